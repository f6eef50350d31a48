#include "identity/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fg::identity {

Result<std::string, std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return unexpected("cannot read " + path);
  return ss.str();
}

Result<bool, std::string> write_file_atomically(const std::string& path, const std::string& content,
                                                mode_t mode) {
  const std::string tmp = path + ".tmp";
  // A stale temporary from a crashed earlier attempt would make O_EXCL fail
  // forever; it holds nothing worth keeping.
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return unexpected("cannot create " + tmp + ": " + std::strerror(errno));
  // open() applies the umask; fchmod makes the mode exact (never wider than asked).
  bool ok = ::fchmod(fd, mode) == 0;
  size_t written = 0;
  while (ok && written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved_errno = errno;
    ::unlink(tmp.c_str());
    return unexpected("cannot write " + path + ": " + std::strerror(saved_errno));
  }
  return true;
}

}  // namespace fg::identity
