"""The AWS-compatible API with Debian's AWS CLI v2 and boto3: things, thing
types and thing groups (issue 5). Every call is SigV4-signed with the admin
key that `fleetguard serve` wrote to <data-dir>/admin-credentials."""

import pytest
from botocore.exceptions import ClientError


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    e = info.value.response
    return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"], e["Error"].get("Message", "")


def aws_error(broker, *args):
    r = broker.aws(*args, check=False)
    assert r.returncode != 0, f"expected failure of {args}: {r.stdout}"
    return r.stderr


def test_create_describe_update_delete_thing_with_awscli(broker):
    out = broker.aws("create-thing", "--thing-name", "conveyor-7",
                     "--attribute-payload", '{"attributes": {"dc": "dc1", "line": "7"}}')
    assert out["thingName"] == "conveyor-7"
    account = out["thingArn"].split(":")[4]
    assert len(account) == 12 and account.isdigit() and account != "123456789012"
    assert out["thingArn"] == f"arn:aws:iot:us-east-1:{account}:thing/conveyor-7"
    assert out["thingId"]

    d = broker.aws("describe-thing", "--thing-name", "conveyor-7")
    assert d["attributes"] == {"dc": "dc1", "line": "7"}
    assert d["version"] == 1 and d["defaultClientId"] == "conveyor-7" and d["thingId"] == out["thingId"]

    broker.aws("update-thing", "--thing-name", "conveyor-7",
               "--attribute-payload", '{"attributes": {"line": "", "zone": "a"}, "merge": true}',
               "--expected-version", "1")
    d = broker.aws("describe-thing", "--thing-name", "conveyor-7")
    assert d["attributes"] == {"dc": "dc1", "zone": "a"} and d["version"] == 2

    err = aws_error(broker, "update-thing", "--thing-name", "conveyor-7", "--expected-version", "1",
                    "--attribute-payload", '{"attributes": {"x": "y"}}')
    assert "VersionConflictException" in err

    broker.aws("delete-thing", "--thing-name", "conveyor-7")
    err = aws_error(broker, "describe-thing", "--thing-name", "conveyor-7")
    assert "ResourceNotFoundException" in err


def test_thing_errors_as_boto3_reports_them(broker):
    iot = broker.boto3_client()
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    # Same definition again: idempotent; a different one: already exists.
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    code, status, _ = error_of(iot.create_thing, thingName="t1", attributePayload={"attributes": {"a": "2"}})
    assert (code, status) == ("ResourceAlreadyExistsException", 409)
    code, status, msg = error_of(iot.describe_thing, thingName="nope")
    assert (code, status) == ("ResourceNotFoundException", 404)
    # Model constraints are checked by the server (boto3 validates client-side
    # too, so bypass it with a name only the pattern rejects).
    code, status, msg = error_of(iot.create_thing, thingName="has space")
    assert (code, status) == ("InvalidRequestException", 400)
    assert "regular expression" in msg
    code, status, _ = error_of(iot.create_thing, thingName="typed", thingTypeName="no-such-type")
    assert status in (400, 404)
    # Deleting a thing that does not exist succeeds, as in AWS.
    iot.delete_thing(thingName="never-existed")


def test_list_things_filters_and_pagination(broker):
    iot = broker.boto3_client()
    iot.create_thing_type(thingTypeName="sensor")
    for i in range(7):
        iot.create_thing(thingName=f"dev-{i}", attributePayload={"attributes": {"site": "north" if i % 2 else "south"}})
    iot.create_thing(thingName="typed-1", thingTypeName="sensor")

    names = [t["thingName"] for t in iot.list_things()["things"]]
    assert names == sorted(names) and len(names) == 8

    page = iot.list_things(maxResults=3)
    assert len(page["things"]) == 3 and "nextToken" in page
    seen = [t["thingName"] for t in page["things"]]
    while "nextToken" in page:
        page = iot.list_things(maxResults=3, nextToken=page["nextToken"])
        seen += [t["thingName"] for t in page["things"]]
    assert seen == names

    north = iot.list_things(attributeName="site", attributeValue="north")["things"]
    assert [t["thingName"] for t in north] == ["dev-1", "dev-3", "dev-5"]
    pre = iot.list_things(attributeName="site", attributeValue="sou", usePrefixAttributeValue=True)["things"]
    assert len(pre) == 4
    typed = iot.list_things(thingTypeName="sensor")["things"]
    assert [(t["thingName"], t["thingTypeName"]) for t in typed] == [("typed-1", "sensor")]

    code, status, _ = error_of(iot.list_things, nextToken="garbage!")
    assert (code, status) == ("InvalidRequestException", 400)

    # The AWS CLI follows nextToken itself.
    out = broker.aws("list-things", "--page-size", "2")
    assert [t["thingName"] for t in out["things"]] == names


def test_thing_types(broker):
    iot = broker.boto3_client()
    out = iot.create_thing_type(thingTypeName="camera", thingTypeProperties={
        "thingTypeDescription": "door cameras", "searchableAttributes": ["dc"]})
    assert out["thingTypeArn"].endswith(":thingtype/camera")
    d = iot.describe_thing_type(thingTypeName="camera")
    assert d["thingTypeProperties"] == {"thingTypeDescription": "door cameras", "searchableAttributes": ["dc"]}
    assert d["thingTypeMetadata"]["deprecated"] is False
    assert d["thingTypeMetadata"]["creationDate"].year >= 2024
    iot.create_thing(thingName="cam-1", thingTypeName="camera")

    types = iot.list_thing_types()["thingTypes"]
    assert [t["thingTypeName"] for t in types] == ["camera"]
    assert iot.list_thing_types(thingTypeName="other")["thingTypes"] == []

    # Delete needs a deprecated type with no things.
    code, _, _ = error_of(iot.delete_thing_type, thingTypeName="camera")
    assert code == "InvalidRequestException"
    iot.deprecate_thing_type(thingTypeName="camera")
    assert iot.describe_thing_type(thingTypeName="camera")["thingTypeMetadata"]["deprecated"] is True
    iot.deprecate_thing_type(thingTypeName="camera", undoDeprecate=True)
    assert iot.describe_thing_type(thingTypeName="camera")["thingTypeMetadata"]["deprecated"] is False
    iot.deprecate_thing_type(thingTypeName="camera")
    iot.delete_thing(thingName="cam-1")
    iot.delete_thing_type(thingTypeName="camera")
    code, status, _ = error_of(iot.describe_thing_type, thingTypeName="camera")
    assert (code, status) == ("ResourceNotFoundException", 404)

    out = broker.aws("create-thing-type", "--thing-type-name", "cli-type")
    assert out["thingTypeName"] == "cli-type"
    code, _, _ = error_of(iot.create_thing_type, thingTypeName="tagged", tags=[{"Key": "k", "Value": "v"}])
    assert code == "InvalidRequestException"


def test_thing_groups(broker):
    iot = broker.boto3_client()
    root = iot.create_thing_group(thingGroupName="dc1")
    assert root["thingGroupArn"].endswith(":thinggroup/dc1")
    iot.create_thing_group(thingGroupName="dc1-floor", parentGroupName="dc1",
                           thingGroupProperties={"thingGroupDescription": "floor",
                                                 "attributePayload": {"attributes": {"level": "1"}}})
    iot.create_thing_group(thingGroupName="dc1-floor-line7", parentGroupName="dc1-floor")
    d = iot.describe_thing_group(thingGroupName="dc1-floor-line7")
    assert d["thingGroupMetadata"]["parentGroupName"] == "dc1-floor"
    assert [g["groupName"] for g in d["thingGroupMetadata"]["rootToParentThingGroups"]] == ["dc1", "dc1-floor"]
    d = iot.describe_thing_group(thingGroupName="dc1-floor")
    assert d["thingGroupProperties"]["thingGroupDescription"] == "floor"
    assert d["thingGroupProperties"]["attributePayload"]["attributes"] == {"level": "1"}
    assert d["version"] == 1

    out = iot.update_thing_group(thingGroupName="dc1-floor", expectedVersion=1,
                                 thingGroupProperties={"thingGroupDescription": "ground floor"})
    assert out["version"] == 2
    code, status, _ = error_of(iot.update_thing_group, thingGroupName="dc1-floor", expectedVersion=1,
                               thingGroupProperties={"thingGroupDescription": "x"})
    assert (code, status) == ("VersionConflictException", 409)

    names = lambda r: [g["groupName"] for g in r["thingGroups"]]  # noqa: E731
    assert names(iot.list_thing_groups()) == ["dc1", "dc1-floor", "dc1-floor-line7"]
    assert names(iot.list_thing_groups(parentGroup="dc1")) == ["dc1-floor"]
    assert names(iot.list_thing_groups(parentGroup="dc1", recursive=True)) == ["dc1-floor", "dc1-floor-line7"]
    assert names(iot.list_thing_groups(namePrefixFilter="dc1-f")) == ["dc1-floor", "dc1-floor-line7"]

    iot.create_thing(thingName="belt")
    iot.add_thing_to_thing_group(thingGroupName="dc1-floor-line7", thingName="belt")
    thing_arn = iot.describe_thing(thingName="belt")["thingArn"]
    iot.add_thing_to_thing_group(thingGroupArn=root["thingGroupArn"], thingArn=thing_arn)
    assert names(iot.list_thing_groups_for_thing(thingName="belt")) == ["dc1", "dc1-floor-line7"]
    assert iot.list_things_in_thing_group(thingGroupName="dc1-floor")["things"] == []
    assert iot.list_things_in_thing_group(thingGroupName="dc1-floor", recursive=True)["things"] == ["belt"]
    code, status, _ = error_of(iot.add_thing_to_thing_group, thingGroupName="nope", thingName="belt")
    assert (code, status) == ("ResourceNotFoundException", 404)

    iot.update_thing_groups_for_thing(thingName="belt", thingGroupsToAdd=["dc1-floor"],
                                      thingGroupsToRemove=["dc1"])
    assert names(iot.list_thing_groups_for_thing(thingName="belt")) == ["dc1-floor", "dc1-floor-line7"]
    iot.remove_thing_from_thing_group(thingGroupName="dc1-floor", thingName="belt")
    assert names(iot.list_thing_groups_for_thing(thingName="belt")) == ["dc1-floor-line7"]

    # A group with children cannot be deleted.
    code, status, _ = error_of(iot.delete_thing_group, thingGroupName="dc1")
    assert status == 400
    iot.delete_thing_group(thingGroupName="dc1-floor-line7")
    assert iot.list_thing_groups_for_thing(thingName="belt")["thingGroups"] == []

    # The same through the AWS CLI.
    broker.aws("create-thing-group", "--thing-group-name", "cli-group")
    broker.aws("add-thing-to-thing-group", "--thing-group-name", "cli-group", "--thing-name", "belt")
    out = broker.aws("list-things-in-thing-group", "--thing-group-name", "cli-group")
    assert out["things"] == ["belt"]
