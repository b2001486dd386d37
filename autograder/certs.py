"""`course-grade cluster-certs DIR`: the keys of a Dask grading cluster of the course's own.

Dask's TLS is mutual: every peer (scheduler, worker, client) shows a certificate that the others
check against the cluster's CA, and nothing without one gets in. So the grader needs a CA of its
own, never a public one (any certificate a public CA ever signed would be let in):

    ca.pem                              the course's CA certificate: on every machine
    ca.key                              the CA's key, only to issue more: keep it off the cluster
    scheduler.pem, scheduler.key        for the `dask scheduler` machine
    worker.pem, worker.key              for every `dask worker` machine
    grader.pem, grader.key              for the grading machine (`course-grade autograde --tls DIR`)

Keys are written readable by their owner only; existing files are never overwritten.
"""
import datetime
import os
from pathlib import Path

ROLES = ("scheduler", "worker", "grader")
CA_FILE, CA_KEY = "ca.pem", "ca.key"


def _modules():
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise RuntimeError("making a cluster's keys needs cryptography: pip install 'course-lib[dask]'") from None
    return x509, hashes, serialization, ec, NameOID


def make(folder, days=365, course="course-lib grading"):
    """Write a new CA and a key pair per role into folder (made if needed); returns the paths.
    Raises FileExistsError, before writing anything, if any of them exists."""
    x509, hashes, serialization, ec, NameOID = _modules()
    folder = Path(folder)
    paths = [folder / CA_FILE, folder / CA_KEY] + [folder / f"{r}.{e}" for r in ROLES for e in ("pem", "key")]
    there = [p.name for p in paths if p.exists()]
    if there:
        raise FileExistsError(f"{folder} already holds {', '.join(there)}: keys are never overwritten; "
                              f"choose another folder, or remove them if no cluster uses them")
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5), not_valid_after=now + datetime.timedelta(days=days))

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, course),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def certificate(subject, key, issuer, signer, ca):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(valid["not_valid_before"])
                   .not_valid_after(valid["not_valid_after"])
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
        return builder.sign(signer, hashes.SHA256())

    def write(path, data, private):
        # a key is created unreadable to others from its first byte, not chmod-ed afterwards
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("course-lib grading CA")
    ca = certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    write(folder / CA_FILE, ca.public_bytes(serialization.Encoding.PEM), private=False)
    write(folder / CA_KEY, pem_key(ca_key), private=True)
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = certificate(name(f"dask {role}"), key, ca_name, ca_key, ca=False)
        write(folder / f"{role}.pem", cert.public_bytes(serialization.Encoding.PEM), private=False)
        write(folder / f"{role}.key", pem_key(key), private=True)
    return paths
