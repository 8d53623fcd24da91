#!/usr/bin/env python3
"""Scripted stand-ins for two AWS services chexport asks for S3 keys, which no real server here
provides: the EC2 instance metadata service (IMDSv2) and STS AssumeRoleWithWebIdentity.

  aws_fake.py --access KEY --secret SECRET --expires-in SECONDS [--role-arn ARN --token TOKEN]

IMDSv2: PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds) gives a session token;
GET /latest/meta-data/iam/security-credentials/ (with it) names the role "exporter"; GET .../exporter
gives the keys. STS: POST / with Action=AssumeRoleWithWebIdentity, the expected RoleArn and
WebIdentityToken gives the keys in STS's XML. The keys are the S3 server's own (radosgw knows no
session tokens from elsewhere, so the fake gives none) and expire --expires-in seconds from each
answer; with --fail-after N, the instance role's keys are refused (500) after N answers. Prints its port on the first line of stdout, then "keys imds" or "keys sts" for each set
of keys handed out. Stops on SIGTERM.
"""
import argparse
import datetime
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSION = "fake-imds-session-token"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--access", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--role-arn", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--fail-after", type=int, default=-1,
                        help="answer 500 for the instance role's keys after this many")
    args = parser.parse_args()

    handed = [0]

    def expiration():
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=args.expires_in)
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def answer(self, status, body, content_type="text/plain"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.answer(200, SESSION)
            self.answer(400, "bad token request")

        def do_GET(self):
            if self.headers.get("X-aws-ec2-metadata-token") != SESSION:
                return self.answer(401, "")  # IMDSv2 only: no token, no answer
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                return self.answer(200, "exporter\n")
            if self.path == base + "exporter":
                if args.fail_after >= 0 and handed[0] >= args.fail_after:
                    print("refused imds", flush=True)
                    return self.answer(500, "")
                handed[0] += 1
                print("keys imds", flush=True)
                return self.answer(200, json.dumps({
                    "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": args.access,
                    "SecretAccessKey": args.secret, "Token": "", "Expiration": expiration()}))
            self.answer(404, "")

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            one = lambda k: form.get(k, [""])[0]
            if one("Action") != "AssumeRoleWithWebIdentity":
                return self.answer(400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>")
            if one("RoleArn") != args.role_arn or one("WebIdentityToken") != args.token:
                return self.answer(403, "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>")
            print("keys sts", flush=True)
            self.answer(200, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                        "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
                        "<SessionToken></SessionToken><Expiration>%s</Expiration></Credentials>"
                        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
                        % (args.access, args.secret, expiration()), "text/xml")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
