#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a real ClickHouse server, for chexport's tests.

Every request is forwarded to the upstream server unchanged, except the first --faults export
queries (a POST body with "FORMAT CSV" and no "count()"), which get --mode:

  cut            forward the response, then close the connection after --after body bytes
                 (no chunked terminator: curl reports error 18, the CSV stops mid-record)
  status503      answer 503 with "Retry-After: 1" without asking the server
  stall          forward --after body bytes, then send nothing more (hold the connection)
  truncate       forward --after body bytes, then end the body cleanly (a chunked terminator):
                 only a compressed body can tell that it stopped early
  corrupt        forward the body with the 16 bytes after the first --after inverted
  exception      servers 25.1-25.10: after --after bytes a chunk "__exception__\\r\\n<message>\\n"
                 (a transient memory-limit error), then the connection is aborted; the
                 upstream's X-ClickHouse-Exception-Tag header is dropped, as those servers
                 send none

Neither real server shows a compressed body that stops early but cleanly, or one damaged on its
way, and neither shows the exception mode's framing (18.16 appends plain text,
26.7 tags its block: reference clickhouse-http.md §1); everything else about the response is the
real server's.
Prints its port on the first line of stdout, then one line per injected fault. Stops on SIGTERM.
"""
import argparse
import http.client
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGE = ("Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.31 GiB "
           "(attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB. "
           "(MEMORY_LIMIT_EXCEEDED) (version 25.8.1.1 (official build))")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--mode", required=True,
                        choices=["cut", "status503", "stall", "exception", "truncate", "corrupt"])
    parser.add_argument("--faults", type=int, default=1)
    parser.add_argument("--after", type=int, default=1 << 20)
    args = parser.parse_args()
    lock = threading.Lock()
    state = {"left": args.faults}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def chunk(self, data):
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

        def abort(self):
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fault = None
            if b"FORMAT CSV" in body and b"count()" not in body:
                with lock:
                    if state["left"] > 0:
                        state["left"] -= 1
                        fault = args.mode
                        print(f"fault {fault}", flush=True)
            if fault == "status503":
                text = b"Service Unavailable (injected)\n"
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            upstream = http.client.HTTPConnection("127.0.0.1", args.upstream, timeout=300)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "connection", "expect")}
            upstream.request("POST", self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status)
            dropped = ["transfer-encoding", "content-length", "connection", "keep-alive"]
            if fault == "exception":
                dropped.append("x-clickhouse-exception-tag")
            for k, v in response.getheaders():
                if k.lower() not in dropped:
                    self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            sent = 0
            while True:
                data = response.read1(65536)
                if not data:
                    break
                if fault == "corrupt" and sent <= args.after < sent + len(data):
                    at = args.after - sent
                    data = data[:at] + bytes(b ^ 0xFF for b in data[at:at + 16]) + data[at + 16:]
                    fault = None
                if fault not in (None, "corrupt") and sent + len(data) >= args.after:
                    head = data[:args.after - sent]
                    if head:
                        self.chunk(head)
                    if fault == "stall":
                        self.wfile.flush()
                        time.sleep(300)
                    elif fault == "exception":
                        self.chunk(("__exception__\r\n" + MESSAGE + "\n").encode())
                    elif fault == "truncate":
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                        upstream.close()
                        return
                    upstream.close()
                    self.abort()
                    return
                self.chunk(data)
                sent += len(data)
            self.wfile.write(b"0\r\n\r\n")
            upstream.close()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
