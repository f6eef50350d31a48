"""The AWS-compatible API with the AWS CLI and boto3: device certificates,
thing principals and DescribeEndpoint (issue 5)."""

import subprocess

import pytest
from botocore.exceptions import ClientError


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    e = info.value.response
    return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"]


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_keys_and_certificate_lifecycle_with_awscli(broker, tmp_path):
    out = broker.aws("create-keys-and-certificate", "--set-as-active")
    cert_id, arn = out["certificateId"], out["certificateArn"]
    assert len(cert_id) == 64 and arn.endswith(f":cert/{cert_id}")
    assert out["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in out["keyPair"]["PrivateKey"] and "PUBLIC KEY" in out["keyPair"]["PublicKey"]
    # The certificate chains to the built-in CA that devices trust.
    (tmp_path / "dev.pem").write_text(out["certificatePem"])
    openssl("verify", "-CAfile", broker.cert, "dev.pem", cwd=tmp_path)

    d = broker.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
    assert d["status"] == "ACTIVE" and d["certificateArn"] == arn and d["certificatePem"] == out["certificatePem"]
    assert d["validity"]["notAfter"] > d["validity"]["notBefore"]

    # ACTIVE certificates cannot be deleted.
    r = broker.aws("delete-certificate", "--certificate-id", cert_id, check=False)
    assert r.returncode != 0 and "CertificateStateException" in r.stderr
    broker.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "INACTIVE")
    assert broker.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]["status"] == "INACTIVE"
    broker.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "REVOKED")
    r = broker.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "ACTIVE", check=False)
    assert r.returncode != 0 and "CertificateStateException" in r.stderr
    broker.aws("delete-certificate", "--certificate-id", cert_id)
    r = broker.aws("describe-certificate", "--certificate-id", cert_id, check=False)
    assert r.returncode != 0 and "ResourceNotFoundException" in r.stderr


def test_certificate_errors_and_listing_with_boto3(broker):
    iot = broker.boto3_client()
    created = [iot.create_keys_and_certificate(setAsActive=(i % 2 == 0))["certificateId"] for i in range(5)]
    code, status = error_of(iot.describe_certificate, certificateId="ab" * 32)
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, status = error_of(iot.describe_certificate, certificateId="zz" * 32)
    assert (code, status) == ("InvalidRequestException", 400)
    code, status = error_of(iot.update_certificate, certificateId=created[0], newStatus="PENDING_TRANSFER")
    assert status == 400

    listed = iot.list_certificates(ascendingOrder=True)["certificates"]
    assert sorted(c["certificateId"] for c in listed) == sorted(created)
    assert {c["certificateId"]: c["status"] for c in listed}[created[1]] == "INACTIVE"
    # Pagination with marker / nextMarker, both orders.
    for ascending in (True, False):
        page = iot.list_certificates(pageSize=2, ascendingOrder=ascending)
        seen = [c["certificateId"] for c in page["certificates"]]
        while "nextMarker" in page:
            page = iot.list_certificates(pageSize=2, ascendingOrder=ascending, marker=page["nextMarker"])
            seen += [c["certificateId"] for c in page["certificates"]]
        expect = [c["certificateId"] for c in listed]
        assert seen == (expect if ascending else expect[::-1])


def test_certificate_from_csr_and_register(broker, tmp_path):
    iot = broker.boto3_client()
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "dev.key",
            "-subj", "/CN=csr-device", "-out", "dev.csr", cwd=tmp_path)
    csr = (tmp_path / "dev.csr").read_text()
    out = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    d = iot.describe_certificate(certificateId=out["certificateId"])["certificateDescription"]
    assert d["status"] == "ACTIVE"
    code, status = error_of(iot.create_certificate_from_csr, certificateSigningRequest="not a csr")
    assert (code, status) == ("InvalidRequestException", 400)

    # A certificate signed by the built-in CA elsewhere can be registered once.
    openssl("x509", "-req", "-in", "dev.csr", "-CA", broker.cert, "-CAkey", str(broker.data_dir / "ca.key"),
            "-CAcreateserial", "-days", "30", "-out", "ext.pem", cwd=tmp_path)
    pem = (tmp_path / "ext.pem").read_text()
    reg = iot.register_certificate(certificatePem=pem, status="ACTIVE")
    assert iot.describe_certificate(certificateId=reg["certificateId"])["certificateDescription"]["status"] == "ACTIVE"
    code, status = error_of(iot.register_certificate, certificatePem=pem)
    assert (code, status) == ("ResourceAlreadyExistsException", 409)
    out = broker.aws("register-certificate", "--certificate-pem", pem, check=False)
    assert out.returncode != 0 and "ResourceAlreadyExistsException" in out.stderr


def test_thing_principals(broker):
    iot = broker.boto3_client()
    iot.create_thing(thingName="press-1")
    iot.create_thing(thingName="press-2")
    cert = iot.create_keys_and_certificate(setAsActive=True)
    arn = cert["certificateArn"]

    out = broker.aws("attach-thing-principal", "--thing-name", "press-1", "--principal", arn)
    assert out is None or out == {}
    iot.attach_thing_principal(thingName="press-2", principal=arn)
    iot.attach_thing_principal(thingName="press-2", principal=arn)  # twice is fine
    assert iot.list_thing_principals(thingName="press-1")["principals"] == [arn]
    assert iot.list_principal_things(principal=arn)["things"] == ["press-1", "press-2"]
    assert broker.aws("list-principal-things", "--principal", arn)["things"] == ["press-1", "press-2"]

    code, status = error_of(iot.attach_thing_principal, thingName="missing", principal=arn)
    assert (code, status) == ("ResourceNotFoundException", 404)
    bogus = arn.rsplit("/", 1)[0] + "/" + "0" * 64
    code, status = error_of(iot.attach_thing_principal, thingName="press-1", principal=bogus)
    assert (code, status) == ("ResourceNotFoundException", 404)

    # An attached certificate cannot be deleted.
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    code, status = error_of(iot.delete_certificate, certificateId=cert["certificateId"])
    assert (code, status) == ("DeleteConflictException", 409)

    iot.detach_thing_principal(thingName="press-1", principal=arn)
    broker.aws("detach-thing-principal", "--thing-name", "press-2", "--principal", arn)
    assert iot.list_principal_things(principal=arn)["things"] == []
    iot.delete_certificate(certificateId=cert["certificateId"])


def test_describe_endpoint_names_the_mqtts_listener(broker):
    out = broker.aws("describe-endpoint", "--endpoint-type", "iot:Data-ATS")
    assert out["endpointAddress"] == f"127.0.0.1:{broker.tls_port}"
    iot = broker.boto3_client()
    assert iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == f"127.0.0.1:{broker.tls_port}"
    code, status = error_of(iot.describe_endpoint, endpointType="iot:CredentialProvider")
    assert (code, status) == ("InvalidRequestException", 400)
