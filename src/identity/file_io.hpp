// Small POSIX file helpers for key material. Internal to fg::identity.
// Files are written to a temporary sibling created with O_EXCL and the final
// mode already set, fsynced, then renamed into place, so a reader never sees a
// half-written file and a private key is never readable by others, not even
// for an instant (umask can only remove permission bits, never add them).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.hpp"

namespace fg::identity {

// Returns the file's contents, or an error naming the path and errno text.
Result<std::string, std::string> read_whole_file(const std::string& path);

// Atomically replaces `path` with `content`, created with `mode` (e.g. 0600).
Result<bool, std::string> write_file_atomically(const std::string& path, const std::string& content,
                                                mode_t mode);

}  // namespace fg::identity
