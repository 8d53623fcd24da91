#!/usr/bin/env python3
"""A scripted S3 stand-in that keeps SHA-256 checksums as AWS S3 does, which radosgw from Debian 12
(Ceph 16) does not: it accepts and ignores every x-amz-checksum-* header, so no real server here
can show the behaviour. Path-style requests only; signatures are not checked (radosgw checks them
in every other test), but x-amz-content-sha256 is.

  s3_fake.py --log FILE [--wrong-composite]
                            prints its port on the first line of stdout; stops on SIGTERM

What it does as AWS documents it:
- CreateMultipartUpload with x-amz-checksum-algorithm: SHA256 makes an upload whose every part
  must carry x-amz-checksum-sha256 (else 400 InvalidRequest).
- A PUT (object or part) with x-amz-checksum-sha256 is refused with 400 BadDigest unless it is the
  base64 SHA-256 of the body; the answer repeats the header.
- CompleteMultipartUpload of such an upload needs each part's <ChecksumSHA256> (else 400
  InvalidPart) and answers the composite: base64(SHA-256(part digests, concatenated)) + "-N",
  with the multipart ETag (MD5 of the parts' MD5s + "-N").
- GET / HEAD with x-amz-checksum-mode: ENABLED answer x-amz-checksum-sha256 and
  x-amz-checksum-type.
- PUT with If-None-Match: * answers 412 when the object exists; ListObjectsV2 and
  ListMultipartUploads answer in one page.
Each request is logged to --log as "METHOD PATH QUERY checksum=<x-amz-checksum-sha256 or ->
mode=<x-amz-checksum-mode or -> sent=<body bytes answered>", and each completed multipart upload
as "stored PATH CHECKSUM" (the composite this script computed, or -).
"""
import argparse
import base64
import hashlib
import re
import signal
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


def b64(raw):
    return base64.b64encode(raw).decode()


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}  # (bucket, key) -> dict(data, etag, checksum)
        self.uploads = {}  # id -> dict(bucket, key, algorithm, parts {n: (data, md5, sha)})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--wrong-composite", action="store_true",
                        help="answer composite checksums of other bytes than the parts'")
    args = parser.parse_args()
    store = Store()
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            log.write("%s %s %s checksum=%s mode=%s sent=%d\n" % (
                self.command, self.path_only, self.query or "-",
                self.headers.get("x-amz-checksum-sha256") or "-",
                self.headers.get("x-amz-checksum-mode") or "-", 0 if head else len(body)))

        def error(self, status, code, message=""):
            xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>" % (
                code, escape(message))
            self.answer(status, xml.encode(), {"Content-Type": "application/xml"})

        def parse(self):
            url = urllib.parse.urlsplit(self.path)
            self.path_only = urllib.parse.unquote(url.path)
            self.query = url.query
            self.params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            parts = urllib.parse.unquote(url.path).lstrip("/").split("/", 1)
            self.bucket = parts[0]
            self.key = parts[1] if len(parts) > 1 else ""
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""

        def body_ok(self):
            declared = self.headers.get("x-amz-content-sha256")
            if declared and declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(self.body).hexdigest():
                self.error(400, "XAmzContentSHA256Mismatch")
                return False
            checksum = self.headers.get("x-amz-checksum-sha256")
            if checksum is not None and checksum != b64(hashlib.sha256(self.body).digest()):
                self.error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
                return False
            return True

        def checksum_headers(self, checksum, kind):
            if not checksum or self.headers.get("x-amz-checksum-mode", "").upper() != "ENABLED":
                return {}
            return {"x-amz-checksum-sha256": checksum, "x-amz-checksum-type": kind}

        def do_PUT(self):
            self.parse()
            if not self.key:
                return self.answer(200)
            if not self.body_ok():
                return
            sha = hashlib.sha256(self.body).digest()
            md5 = hashlib.md5(self.body)
            with store.lock:
                if "uploadId" in self.params:
                    upload = store.uploads.get(self.params["uploadId"])
                    if upload is None:
                        return self.error(404, "NoSuchUpload")
                    sent = self.headers.get("x-amz-checksum-sha256")
                    if upload["algorithm"] == "SHA256" and sent is None:
                        return self.error(400, "InvalidRequest",
                                          "The upload was created using a sha256 checksum. The part's x-amz-checksum-sha256 is missing.")
                    upload["parts"][int(self.params["partNumber"])] = (self.body, md5.digest(), sha)
                    headers = {"ETag": '"%s"' % md5.hexdigest()}
                    if sent is not None:
                        headers["x-amz-checksum-sha256"] = sent
                    return self.answer(200, b"", headers)
                if self.headers.get("If-None-Match") == "*" and (self.bucket, self.key) in store.objects:
                    return self.error(412, "PreconditionFailed")
                checksum = self.headers.get("x-amz-checksum-sha256")
                store.objects[(self.bucket, self.key)] = {
                    "data": self.body, "etag": md5.hexdigest(), "checksum": checksum, "type": "FULL_OBJECT"}
            headers = {"ETag": '"%s"' % md5.hexdigest()}
            if checksum:
                headers["x-amz-checksum-sha256"] = checksum
            self.answer(200, b"", headers)

        def do_POST(self):
            self.parse()
            if not self.body_ok():
                return
            with store.lock:
                if "uploads" in self.params:
                    upload_id = uuid.uuid4().hex
                    algorithm = (self.headers.get("x-amz-checksum-algorithm") or "").upper()
                    store.uploads[upload_id] = {"bucket": self.bucket, "key": self.key,
                                                "algorithm": algorithm, "parts": {}}
                    xml = "<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>" % (
                        escape(self.bucket), escape(self.key), upload_id)
                    headers = {"Content-Type": "application/xml"}
                    if algorithm:
                        headers["x-amz-checksum-algorithm"] = algorithm
                    return self.answer(200, xml.encode(), headers)
                upload = store.uploads.get(self.params.get("uploadId", ""))
                if upload is None:
                    return self.error(404, "NoSuchUpload")
                listed = re.findall(r"<Part>(.*?)</Part>", self.body.decode(), re.S)
                if not listed:
                    return self.error(400, "MalformedXML")
                md5s, shas, data = [], [], []
                for i, part in enumerate(listed, 1):
                    number = int(re.search(r"<PartNumber>(\d+)</PartNumber>", part).group(1))
                    stored = upload["parts"].get(number)
                    etag = re.search(r"<ETag>(.*?)</ETag>", part, re.S)
                    if number != i or stored is None or etag is None or \
                            etag.group(1).replace("&quot;", "").strip('"') != stored[1].hex():
                        return self.error(400, "InvalidPart")
                    if upload["algorithm"] == "SHA256":
                        sent = re.search(r"<ChecksumSHA256>(.*?)</ChecksumSHA256>", part)
                        if sent is None or sent.group(1) != b64(stored[2]):
                            return self.error(400, "InvalidPart",
                                              "One or more of the specified parts could not be found or its checksum did not match.")
                    md5s.append(stored[1])
                    shas.append(stored[2])
                    data.append(stored[0])
                n = len(listed)
                etag = "%s-%d" % (hashlib.md5(b"".join(md5s)).hexdigest(), n)
                if args.wrong_composite:
                    shas.append(b"not a part")
                checksum = "%s-%d" % (b64(hashlib.sha256(b"".join(shas)).digest()), n) \
                    if upload["algorithm"] == "SHA256" else None
                store.objects[(upload["bucket"], upload["key"])] = {
                    "data": b"".join(data), "etag": etag, "checksum": checksum, "type": "COMPOSITE"}
                del store.uploads[self.params["uploadId"]]
                log.write("stored %s %s\n" % (self.path_only, checksum or "-"))
            xml = "<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>&quot;%s&quot;</ETag>%s</CompleteMultipartUploadResult>" % (
                escape(self.bucket), escape(self.key), etag,
                "<ChecksumSHA256>%s</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType>" % checksum if checksum else "")
            self.answer(200, xml.encode(), {"Content-Type": "application/xml"})

        def do_DELETE(self):
            self.parse()
            with store.lock:
                if "uploadId" in self.params:
                    store.uploads.pop(self.params["uploadId"], None)
                else:
                    store.objects.pop((self.bucket, self.key), None)
            self.answer(204)

        def do_HEAD(self):
            self.get(head=True)

        def do_GET(self):
            self.get(head=False)

        def get(self, head):
            self.parse()
            with store.lock:
                if not self.key:
                    return self.listing()
                obj = store.objects.get((self.bucket, self.key))
            if obj is None:
                return self.error(404, "NoSuchKey") if not head else self.answer(404, b"", {}, head=True)
            headers = {"ETag": '"%s"' % obj["etag"], "Content-Type": "application/octet-stream"}
            headers.update(self.checksum_headers(obj["checksum"], obj["type"]))
            if head:
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(obj["data"])))
                self.end_headers()
                log.write("HEAD %s - checksum=- mode=%s sent=0\n" % (
                    self.path_only, self.headers.get("x-amz-checksum-mode") or "-"))
                return
            self.answer(200, obj["data"], headers)

        def listing(self):
            prefix = self.params.get("prefix", "")
            if "uploads" in self.params:
                items = "".join("<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>" % (escape(u["key"]), i)
                                for i, u in store.uploads.items()
                                if u["bucket"] == self.bucket and u["key"].startswith(prefix))
                xml = "<ListMultipartUploadsResult>%s<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>" % items
            else:
                items = "".join("<Contents><Key>%s</Key><ETag>&quot;%s&quot;</ETag><Size>%d</Size></Contents>" % (
                    escape(k), o["etag"], len(o["data"]))
                    for (b, k), o in sorted(store.objects.items()) if b == self.bucket and k.startswith(prefix))
                xml = "<ListBucketResult><IsTruncated>false</IsTruncated>%s</ListBucketResult>" % items
            self.answer(200, xml.encode(), {"Content-Type": "application/xml"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
