// Export to a real S3 server (Ceph radosgw from Debian, started by the ctest fixture): it checks
// SigV4 signatures and body hashes and enforces the 5 MiB minimum part size, like AWS.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "checks.h"
#include "chexport/output/store.h"
#include "network.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

// A fresh bucket named after the running test ("chx-<name>", lower case, valid for S3).
std::string fresh_bucket() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // One bucket per test and server version: the two versions' runs share the S3 server.
  std::string name = "chx-" + test_server().version + "-";
  for (char c : std::string(info->name()))
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (char& c : name) {
    if (c == '.') c = '-';
  }
  name = name.substr(0, 60);
  long status = 0;
  s3_call("PUT", "/" + name, "", &status);
  if (status != 200 && status != 409) throw std::runtime_error("cannot create bucket " + name);
  return name;
}

// Query values are signed as written, so they must be in canonical form: '/' as %2F too.
std::string encode_query(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Every object under `prefix` (list-type=2), as key -> size.
std::map<std::string, uint64_t> list_objects(const std::string& bucket, const std::string& prefix) {
  std::string xml = s3_call("GET", "/" + bucket + "?list-type=2&prefix=" + encode_query(prefix));
  std::map<std::string, uint64_t> objects;
  for (size_t at = 0; (at = xml.find("<Key>", at)) != std::string::npos;) {
    size_t end = xml.find("</Key>", at);
    std::string key = xml.substr(at + 5, end - at - 5);
    size_t size_at = xml.find("<Size>", end) + 6;
    objects[key] = std::stoull(xml.substr(size_at, xml.find("</Size>", size_at) - size_at));
    at = end;
  }
  return objects;
}

// An object key in a request path: like a query value, but '/' stays.
std::string encode(const std::string& key) {
  std::string out;
  size_t start = 0;
  for (size_t slash; (slash = key.find('/', start)) != std::string::npos; start = slash + 1) {
    out += encode_query(key.substr(start, slash - start)) + "/";
  }
  return out + encode_query(key.substr(start));
}

std::string get_object(const std::string& bucket, const std::string& key) {
  long status = 0;
  std::string body = s3_call("GET", "/" + bucket + "/" + encode(key), "", &status);
  if (status != 200) throw std::runtime_error("GET " + key + ": " + std::to_string(status));
  return body;
}

// All data in the export under s3://bucket/prefix, per its manifest, decompressed.
std::string exported_csv(const std::string& bucket, const std::string& prefix,
                         const std::string& manifest_name = "manifest.json") {
  simdjson::dom::parser parser;
  std::string text = get_object(bucket, prefix + "/" + manifest_name);
  simdjson::dom::element manifest = parser.parse(text);
  std::string all;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    EXPECT_EQ(std::string_view(t["status"]), "done");
    for (simdjson::dom::element f : t["files"].get_array()) {
      std::string raw = get_object(bucket, prefix + "/" + std::string(std::string_view(f["path"])));
      EXPECT_EQ(raw.size(), uint64_t(f["compressed_bytes"]));
      EXPECT_EQ(zstd_frame_count(raw), 1u);
      all += zstd_decompress(raw);
    }
  }
  return all;
}

// Two, then three hosts share one export into one prefix (--worker K/N, run at once): each
// writes its own manifest part and lock object, and together they hold every row once.
TEST(S3, TwoOrThreeWorkersShareOnePrefix) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (d Date, n UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) "
             "ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT toDate('2022-01-01') + number % 180, number, concat('\"', "
             "toString(number), ',\\n') FROM numbers(9000)");
  std::string all = http_query("SELECT * FROM " + db + ".t FORMAT CSV");
  for (int n : {2, 3}) {
    SCOPED_TRACE(std::to_string(n) + " workers");
    std::string key = "shared-" + std::to_string(n);
    std::string prefix = "s3://" + bucket + "/" + key;
    std::vector<std::unique_ptr<BackgroundProcess>> workers;
    for (int k = 1; k <= n; ++k) {
      std::vector<std::string> argv{chexport_binary(),
                                    "export",
                                    "--url",
                                    test_server().url(),
                                    "-t",
                                    db + ".t",
                                    "-o",
                                    prefix,
                                    "--worker",
                                    std::to_string(k) + "/" + std::to_string(n),
                                    "-q"};
      workers.push_back(std::make_unique<BackgroundProcess>(argv, test_s3().env()));
    }
    for (auto& w : workers) ASSERT_EQ(w->wait(), 0) << w->output();
    auto objects = list_objects(bucket, key + "/");
    EXPECT_FALSE(objects.count(key + "/manifest.json"));
    std::string joined;
    for (int k = 1; k <= n; ++k) {
      std::string part = exported_csv(
          bucket, key,
          "manifest.worker-" + std::to_string(k) + "-of-" + std::to_string(n) + ".json");
      EXPECT_FALSE(part.empty()) << k;
      joined += part;
      // The locks are gone with their runs.
      EXPECT_FALSE(objects.count(key + "/.chexport.worker-" + std::to_string(k) + "-of-" +
                                 std::to_string(n) + ".lock"));
    }
    EXPECT_EQ(sorted_records(joined), sorted_records(all));
    auto verify = run_chexport({"verify", prefix}, test_s3().env());
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    EXPECT_NE(verify.output.find("OK: 6 file(s), 9000 rows"), std::string::npos) << verify.output;
  }
}

TEST(S3, ExportWithKeysThatNeedEncodingAndVerify) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (k String, n UInt64, s String) ENGINE = MergeTree PARTITION BY k ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT ['a b', 'x%y=z', 'q''q', 'caf\xc3\xa9'][1 + number % 4], number, "
             "concat('\"', toString(number), ',\\n') FROM numbers(20000)");
  std::vector<std::string> args = {"export",
                                   "--url",
                                   test_server().url(),
                                   "-t",
                                   db + ".t",
                                   "-o",
                                   "s3://" + bucket + "/exports/run 1",
                                   "--max-rows-per-file",
                                   "3000"};
  auto r = run_chexport(args, test_s3().env());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto objects = list_objects(bucket, "exports/");
  EXPECT_TRUE(objects.count("exports/run 1/manifest.json"));
  EXPECT_TRUE(objects.count("exports/run 1/" + db + "/t/schema.sql"));
  // Partition values become names with '%' and '=' in them: the keys must still be exact.
  EXPECT_TRUE(
      objects.count("exports/run 1/" + db + "/t/partition=x%25y%3Dz/whole/part-000001.csv.zst"))
      << objects.size();
  EXPECT_TRUE(objects.count("exports/run 1/" + db + "/t/partition=a b/whole/part-000000.csv.zst"));
  EXPECT_EQ(objects.size(),
            2u + 4u * 2u);  // manifest, schema, 4 partitions of 5000 rows in 2 files
  EXPECT_EQ(sorted_records(exported_csv(bucket, "exports/run 1")),
            sorted_records(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  auto verify = run_chexport({"verify", "s3://" + bucket + "/exports/run 1"}, test_s3().env());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("OK: 8 file(s), 20000 rows"), std::string::npos) << verify.output;
  // A second run resumes against the bucket.
  auto again = run_chexport(args, test_s3().env());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("4 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output;
}

// nginx in front of radosgw, logging what each request sent back: an independent count of the
// object bytes chexport reads, and the host each request named.
class LoggedS3 {
 public:
  LoggedS3()
      : log_(dir_.str() + "/access.log"),
        nginx_(
            "log_format sent '$request_method $uri $body_bytes_sent $host';\n"
            "server {\n  listen 127.0.0.1:{PORT};\n  access_log " +
            log_ +
            " sent;\n  client_max_body_size 0;\n"
            "  location / {\n    proxy_pass " +
            test_s3().endpoint() +
            ";\n    proxy_set_header Host $http_host;\n"  // SigV4 signs the Host chexport sent
            "    proxy_http_version 1.1;\n    proxy_request_buffering off;\n"
            "    proxy_buffering off;\n  }\n}") {}
  // chexport's environment, with the endpoint through nginx.
  std::map<std::string, std::string> env() const {
    auto env = test_s3().env();
    env["AWS_ENDPOINT_URL"] = nginx_.url();
    return env;
  }
  // The same endpoint named as "localhost", whose subdomains libcurl resolves to 127.0.0.1 too
  // (virtual-hosted addressing; the fixture's radosgw has rgw_dns_name = localhost).
  std::string localhost_url() const { return "http://localhost:" + std::to_string(nginx_.port()); }
  // Requests of `method` for data files (part-*) since the last call, and the bytes they sent.
  std::pair<uint64_t, uint64_t> data_requests(const std::string& method) {
    std::istringstream lines(read_file(log_));
    std::string m, uri, host;
    uint64_t sent = 0, requests = 0, bytes = 0, line = 0;
    while (lines >> m >> uri >> sent >> host) {
      if (line++ < seen_[method] || m != method || uri.find("/part-") == std::string::npos)
        continue;
      ++requests;
      bytes += sent;
    }
    seen_[method] = line;
    return {requests, bytes};
  }
  // Requests of `method` whose path ends with `suffix`, in the whole log.
  size_t count(const std::string& method, const std::string& suffix) {
    std::istringstream lines(read_file(log_));
    std::string m, uri, host;
    uint64_t sent = 0;
    size_t n = 0;
    while (lines >> m >> uri >> sent >> host) n += m == method && uri.ends_with(suffix);
    return n;
  }
  // "host uri" of every request since the last call.
  std::vector<std::string> requests() {
    std::istringstream lines(read_file(log_));
    std::string m, uri, host;
    uint64_t sent = 0, line = 0;
    std::vector<std::string> found;
    while (lines >> m >> uri >> sent >> host) {
      if (line++ >= seen_all_) found.push_back(host + " " + uri);
    }
    seen_all_ = line;
    return found;
  }

 private:
  TempDir dir_;
  std::string log_;
  Nginx nginx_;
  std::map<std::string, uint64_t> seen_;
  uint64_t seen_all_ = 0;
};

// A resume and a verify of a finished export ask for each object's size and ETag (HEAD) and read
// no object back; verify --deep reads every one; an object replaced since is found either way.
TEST(S3, AResumeAndAVerifyReadNoObjectBack) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT number % 4, number, toString(cityHash64(number)) FROM numbers(40000)");
  settle_parts(db, "t");
  LoggedS3 s3;
  std::string prefix = "s3://" + bucket + "/headed";
  std::vector<std::string> args{"export", "--url", test_server().url(), "-t", db + ".t",
                                "-o",     prefix};
  ASSERT_EQ(run_chexport(args, s3.env()).exit_code, 0);
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.parse(get_object(bucket, "headed/manifest.json"));
  uint64_t files = 0, bytes = 0;
  std::string first_key;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    for (simdjson::dom::element f : t["files"].get_array()) {
      ++files;
      bytes += uint64_t(f["compressed_bytes"]);
      // The ETag S3 gave the object, without quotes.
      std::string_view etag = f["etag"];
      EXPECT_FALSE(etag.empty());
      EXPECT_EQ(etag.find('"'), std::string_view::npos) << etag;
      // radosgw 16 keeps no checksums: it ignores the headers asking for them.
      EXPECT_TRUE(f["s3_checksum_sha256"].error()) << f;
      if (first_key.empty()) first_key = "headed/" + std::string(std::string_view(f["path"]));
    }
  }
  ASSERT_EQ(files, 4u);
  s3.data_requests("GET");
  s3.data_requests("HEAD");

  auto again = run_chexport(args, s3.env());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("4 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output;
  EXPECT_EQ(s3.data_requests("GET"), std::make_pair(uint64_t{0}, uint64_t{0}));
  EXPECT_EQ(s3.data_requests("HEAD").first, files);

  auto verify = run_chexport({"verify", prefix}, s3.env());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("OK: 4 file(s), 40000 rows, 0 bytes verified (4 S3 object(s) by "
                               "size and ETag, as uploaded; --deep reads them back)"),
            std::string::npos)
      << verify.output;
  EXPECT_EQ(s3.data_requests("GET").second, 0u);
  auto deep = run_chexport({"verify", prefix, "--deep"}, s3.env());
  EXPECT_EQ(deep.exit_code, 0) << deep.output;
  EXPECT_NE(
      deep.output.find("OK: 4 file(s), 40000 rows, " + std::to_string(bytes) + " bytes verified"),
      std::string::npos)
      << deep.output;
  EXPECT_EQ(s3.data_requests("GET"), std::make_pair(files, bytes));

  // Another object of the same size under one key: another ETag.
  std::string original = get_object(bucket, first_key);
  std::string replaced = original;
  replaced[replaced.size() / 2] ^= 1;
  long status = 0;
  s3_call("PUT", "/" + bucket + "/" + encode(first_key), replaced, &status);
  ASSERT_EQ(status, 200);
  auto found = run_chexport({"verify", prefix}, s3.env());
  EXPECT_EQ(found.exit_code, 4) << found.output;
  EXPECT_NE(found.output.find("(not the object uploaded)"), std::string::npos) << found.output;
  auto redo = run_chexport(args, s3.env());
  ASSERT_EQ(redo.exit_code, 0) << redo.output;
  EXPECT_NE(redo.output.find("3 task(s) already done and verified, 1 to export"), std::string::npos)
      << redo.output;
  EXPECT_EQ(run_chexport({"verify", prefix, "--deep"}, s3.env()).exit_code, 0);
}

// A scripted S3 stand-in that keeps SHA-256 checksums as AWS documents (tests/tools/s3_fake.py):
// radosgw 16 accepts the checksum headers and ignores them, so no real server here shows this.
class ChecksumS3 {
 public:
  // `wrong`: it answers composite checksums that are not of the parts sent.
  explicit ChecksumS3(bool wrong = false)
      : log_(dir_.str() + "/requests.log"), process_(argv(log_, wrong)) {
    auto line = process_.read_line(30);
    if (!line) throw std::runtime_error("s3_fake.py did not start: " + process_.output());
    url = "http://127.0.0.1:" + *line;
  }
  std::map<std::string, std::string> env() const {
    auto env = test_s3().env();
    env["AWS_ENDPOINT_URL"] = url;
    return env;
  }
  // The lines logged since the last call.
  std::vector<std::string> lines() {
    std::istringstream in(read_file(log_));
    std::vector<std::string> found;
    size_t n = 0;
    for (std::string line; std::getline(in, line); ++n) {
      if (n >= seen_) found.push_back(line);
    }
    seen_ = n;
    return found;
  }
  std::string get(const std::string& key) {
    long status = 0;
    std::string body = s3_call("GET", "/chx/" + key, "", &status, url);
    if (status != 200) throw std::runtime_error("GET " + key + ": " + std::to_string(status));
    return body;
  }
  std::string url;

 private:
  static std::vector<std::string> argv(const std::string& log, bool wrong) {
    std::vector<std::string> v{"python3", std::string(CHEXPORT_TOOLS_DIR) + "/s3_fake.py", "--log",
                               log};
    if (wrong) v.push_back("--wrong-composite");
    return v;
  }
  TempDir dir_;
  std::string log_;
  BackgroundProcess process_;
  size_t seen_ = 0;
};

size_t lines_with(const std::vector<std::string>& lines, const std::string& a,
                  const std::string& b = "") {
  size_t n = 0;
  for (const auto& line : lines) {
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) ++n;
  }
  return n;
}

// Every part goes up with its SHA-256 (the stand-in refuses parts without one once the upload
// asked for SHA256), the manifest records the composite checksum S3 computed, a resume and a
// verify compare it with HEAD requests and read nothing back; --s3-checksum none asks for none.
TEST(S3, ChecksumsS3KeepsRecordedAndComparedByHead) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  // Partition 0: about 9 MB of CSV, two 5 MiB parts; partition 1: one part.
  http_query("INSERT INTO " + db +
             ".t SELECT number >= 300000, number, toString(cityHash64(number)) FROM "
             "numbers(400000)");
  settle_parts(db, "t");
  ChecksumS3 s3;
  std::vector<std::string> args{
      "export",        "--url", test_server().url(), "-t",  db + ".t", "-o", "s3://chx/sums",
      "--compression", "none",  "--s3-part-size",    "5MiB"};
  auto first = run_chexport(args, s3.env());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto log = s3.lines();
  EXPECT_EQ(lines_with(log, "partNumber=", "checksum=-"), 0u);
  EXPECT_EQ(lines_with(log, "partNumber="), 3u);
  std::map<std::string, std::string> stored;  // what the stand-in computed
  for (const auto& line : log) {
    if (line.starts_with("stored ")) {
      auto space = line.find(' ', 7);
      stored[line.substr(7, space - 7)] = line.substr(space + 1);
    }
  }
  simdjson::dom::parser parser;
  std::string text = s3.get("sums/manifest.json");
  simdjson::dom::element manifest = parser.parse(text);
  std::vector<std::string> checksums;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    for (simdjson::dom::element f : t["files"].get_array()) {
      std::string path = "/chx/sums/" + std::string(std::string_view(f["path"]));
      std::string_view checksum = f["s3_checksum_sha256"];
      EXPECT_EQ(checksum, stored[path]) << path;
      checksums.emplace_back(checksum);
    }
  }
  ASSERT_EQ(checksums.size(), 2u);
  std::sort(checksums.begin(), checksums.end(),
            [](const std::string& a, const std::string& b) { return a.back() < b.back(); });
  EXPECT_TRUE(checksums[0].ends_with("=-1")) << checksums[0];
  EXPECT_TRUE(checksums[1].ends_with("=-2")) << checksums[1];

  auto again = run_chexport(args, s3.env());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("2 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output;
  log = s3.lines();
  EXPECT_EQ(lines_with(log, "HEAD /chx/sums/", "mode=ENABLED"), 2u);
  EXPECT_EQ(lines_with(log, "GET /chx/sums/", "/part-"), 0u);
  auto verify = run_chexport({"verify", "s3://chx/sums"}, s3.env());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("(2 S3 object(s) by size and ETag, and the SHA-256 S3 keeps, as "
                               "uploaded; --deep reads them back)"),
            std::string::npos)
      << verify.output;
  EXPECT_EQ(lines_with(s3.lines(), "GET /chx/sums/", "/part-"), 0u);

  // A manifest whose checksum is not the object's.
  std::string edited = text;
  size_t at = edited.find(checksums[0]);
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, 4, "AAAA");
  long status = 0;
  s3_call("PUT", "/chx/sums/manifest.json", edited, &status, s3.url);
  ASSERT_EQ(status, 200);
  auto found = run_chexport({"verify", "s3://chx/sums"}, s3.env());
  EXPECT_EQ(found.exit_code, 4) << found.output;
  EXPECT_NE(
      found.output.find("has SHA-256 checksum " + checksums[0] + " in S3, the manifest says AAAA"),
      std::string::npos)
      << found.output;
  // --s3-checksum none asks for no checksum (for stores that refuse the header): size and ETag.
  s3.lines();
  auto unasked = run_chexport({"verify", "s3://chx/sums", "--s3-checksum", "none"}, s3.env());
  EXPECT_EQ(unasked.exit_code, 0) << unasked.output;
  EXPECT_NE(unasked.output.find("(2 S3 object(s) by size and ETag, as uploaded;"),
            std::string::npos)
      << unasked.output;
  std::vector<std::string> resume_plain = args;
  resume_plain.insert(resume_plain.end(), {"--s3-checksum", "none"});
  auto kept = run_chexport(resume_plain, s3.env());
  EXPECT_EQ(kept.exit_code, 0) << kept.output;
  EXPECT_NE(kept.output.find("2 task(s) already done and verified, 0 to export"), std::string::npos)
      << kept.output;
  log = s3.lines();
  EXPECT_EQ(lines_with(log, "HEAD /chx/sums/", "mode=-"), 4u);
  EXPECT_EQ(lines_with(log, "mode=ENABLED"), 0u);

  args[6] = "s3://chx/plain";
  args.insert(args.end(), {"--s3-checksum", "none"});
  auto plain = run_chexport(args, s3.env());
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  log = s3.lines();
  EXPECT_EQ(lines_with(log, "PUT /chx/plain/", "checksum=-"), lines_with(log, "PUT /chx/plain/"));
  EXPECT_EQ(lines_with(log, "stored /chx/plain/", " -"), 2u);
  EXPECT_EQ(s3.get("plain/manifest.json").find("s3_checksum_sha256"), std::string::npos);
  auto plain_verify = run_chexport({"verify", "s3://chx/plain"}, s3.env());
  EXPECT_EQ(plain_verify.exit_code, 0) << plain_verify.output;
  EXPECT_NE(plain_verify.output.find("(2 S3 object(s) by size and ETag, as uploaded;"),
            std::string::npos)
      << plain_verify.output;

  // A store whose checksum is not the one of the bytes sent: the task fails, and takes its
  // objects back.
  ChecksumS3 wrong(true);
  args[6] = "s3://chx/wrong";
  args.resize(args.size() - 2);
  auto refused = run_chexport(args, wrong.env());
  // Not retried: one upload per file.
  EXPECT_EQ(lines_with(wrong.lines(), "stored /chx/wrong/"), 2u);
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_NE(refused.output.find(", the parts sent make "), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("(a store that computes it otherwise: --s3-checksum none)"),
            std::string::npos)
      << refused.output;
  long listed = 0;
  std::string objects = s3_call("GET", "/chx?list-type=2&prefix=wrong%2F", "", &listed, wrong.url);
  EXPECT_EQ(listed, 200);
  EXPECT_EQ(objects.find("/part-"), std::string::npos) << objects;
}

// 300 tasks into S3 (where nothing is appended): the manifest goes up when the run starts, when it
// ends, and at most every 30 s between, not after each task; a resume reads it.
TEST(S3, ThreeHundredTasksFewManifestUploads) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (p UInt32, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  for (int first = 0; first < 300; first += 100) {
    http_query("INSERT INTO " + db + ".t SELECT number, number FROM numbers(" +
               std::to_string(first) + ", 100)");
  }
  LoggedS3 s3;
  std::vector<std::string> args{"export",  "--url", test_server().url(),        "-t",
                                db + ".t", "-o",    "s3://" + bucket + "/many", "-j",
                                "4"};
  auto r = run_chexport(args, s3.env());
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 3000);
  // Two, and one more for each 30 s the run took (as the manifest says), not one per task.
  simdjson::dom::parser parser;
  double seconds = parser.parse(get_object(bucket, "many/manifest.json"))["seconds"];
  size_t puts = s3.count("PUT", "/many/manifest.json");
  EXPECT_GE(puts, 2u);
  EXPECT_LE(puts, 2u + static_cast<size_t>(seconds / 30)) << seconds << " s";
  auto again = run_chexport(args, s3.env());
  ASSERT_EQ(again.exit_code, 0) << again.output.substr(0, 3000);
  EXPECT_NE(again.output.find("300 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output.substr(0, 3000);
  EXPECT_EQ(run_chexport({"verify", "s3://" + bucket + "/many"}, s3.env()).exit_code, 0);
}

// The S3 server's region and files of our own, without its keys (and without the EC2 metadata
// service, which is not here): each test below gives the keys another way.
std::map<std::string, std::string> keyless_env(const TempDir& dir) {
  return {{"AWS_SHARED_CREDENTIALS_FILE", dir.str() + "/credentials"},
          {"AWS_CONFIG_FILE", dir.str() + "/config"},
          {"AWS_EC2_METADATA_DISABLED", "true"},
          {"AWS_REGION", "us-east-1"}};
}

// A small table exported to `prefix` with `env` (plus `extra` flags); the run's output.
CommandResult export_small(const std::string& prefix, const std::map<std::string, std::string>& env,
                           const std::vector<std::string>& extra = {}) {
  static const std::string db = [] {
    std::string d = fresh_database();
    http_query("CREATE TABLE " + d +
               ".t (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p "
               "ORDER BY n");
    http_query("INSERT INTO " + d + ".t SELECT number % 2, number FROM numbers(1000)");
    return d;
  }();
  std::vector<std::string> args{"export", "--url", test_server().url(), "-t",   db + ".t",
                                "-o",     prefix,  "--log-level",       "debug"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_chexport(args, env);
}

// Keys of a profile in the shared credentials file, the endpoint in the config file; the profile
// named by --s3-profile or AWS_PROFILE; a credential_process; a profile that is nowhere.
TEST(S3, ProfilesOfTheSharedFilesAndCredentialProcess) {
  std::string bucket = fresh_bucket();
  TempDir dir;
  const TestS3& s3 = test_s3();
  std::ofstream(dir.path() / "credentials")
      << "# written by the test\n[archive]\naws_access_key_id = " << s3.access_key
      << "\naws_secret_access_key = " << s3.secret_key << "\n";
  std::ofstream(dir.path() / "keys.sh")
      << "#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": "
         "\"%s\"}' "
      << s3.access_key << " " << s3.secret_key << "\n";
  std::ofstream(dir.path() / "fails.sh") << "#!/bin/sh\necho 'no keys today' >&2\nexit 3\n";
  for (const char* script : {"keys.sh", "fails.sh"})
    std::filesystem::permissions(dir.path() / script, std::filesystem::perms::owner_all);
  std::ofstream(dir.path() / "config")
      << "[default]\nregion = us-east-1\n[profile archive]\nendpoint_url = " << s3.endpoint()
      << "\n[profile process]\nendpoint_url = " << s3.endpoint()
      << "\ncredential_process = " << (dir.path() / "keys.sh").string()
      << "\n[profile broken]\nendpoint_url = " << s3.endpoint()
      << "\ncredential_process = " << (dir.path() / "fails.sh").string()
      << "\n[profile sso]\nsso_session = corp\nsso_account_id = 1\n";
  std::map<std::string, std::string> env = keyless_env(dir);

  auto by_flag = export_small("s3://" + bucket + "/flag", env, {"--s3-profile", "archive"});
  ASSERT_EQ(by_flag.exit_code, 0) << by_flag.output;
  EXPECT_NE(by_flag.output.find("S3 credentials from profile archive"), std::string::npos);
  EXPECT_EQ(by_flag.output.find(s3.secret_key), std::string::npos);
  std::map<std::string, std::string> named = env;
  named["AWS_PROFILE"] = "archive";
  auto verified = run_chexport({"verify", "s3://" + bucket + "/flag"}, named);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("OK: 2 file(s), 1000 rows"), std::string::npos);

  named["AWS_PROFILE"] = "process";
  auto by_process = export_small("s3://" + bucket + "/process", named);
  ASSERT_EQ(by_process.exit_code, 0) << by_process.output;
  EXPECT_NE(by_process.output.find("S3 credentials from credential_process of profile process"),
            std::string::npos);
  EXPECT_EQ(run_chexport({"verify", "s3://" + bucket + "/process", "--s3-profile", "archive"}, env)
                .exit_code,
            0);

  auto broken = export_small("s3://" + bucket + "/broken", env, {"--s3-profile", "broken"});
  EXPECT_EQ(broken.exit_code, 6) << broken.output;
  EXPECT_NE(broken.output.find("chexport: error: credential_process of profile broken failed "
                               "(exit status 3)"),
            std::string::npos)
      << broken.output;
  auto nowhere = export_small("s3://" + bucket + "/nowhere", env, {"--s3-profile", "nowhere"});
  EXPECT_EQ(nowhere.exit_code, 2) << nowhere.output;
  EXPECT_NE(nowhere.output.find("the AWS profile nowhere is in neither " + dir.str() +
                                "/credentials nor " + dir.str() + "/config"),
            std::string::npos)
      << nowhere.output;
  // IAM Identity Center is not read: the message says what to use instead.
  auto sso = export_small("s3://" + bucket + "/sso", env, {"--s3-profile", "sso"});
  EXPECT_EQ(sso.exit_code, 2) << sso.output;
  EXPECT_NE(sso.output.find("the AWS profile sso gets its keys through IAM Identity Center "
                            "(sso_*) or another profile (source_profile, credential_source), "
                            "which chexport does not read: add credential_process = aws "
                            "configure export-credentials --profile sso --format process"),
            std::string::npos)
      << sso.output;
  // No keys anywhere: one line that lists where they may come from.
  std::map<std::string, std::string> none = env;
  none["AWS_ENDPOINT_URL"] = s3.endpoint();
  auto missing = export_small("s3://" + bucket + "/missing", none);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("s3:// needs AWS credentials, and none were found"),
            std::string::npos)
      << missing.output;
}

// Stands in for the EC2 metadata service and STS (tests/tools/aws_fake.py: no real one is here);
// the keys it hands out are the S3 server's.
struct AwsFake {
  explicit AwsFake(int expires_in, const std::string& role_arn = "", const std::string& token = "",
                   int fail_after = -1)
      : process({"python3", std::string(CHEXPORT_TOOLS_DIR) + "/aws_fake.py", "--access",
                 test_s3().access_key, "--secret", test_s3().secret_key, "--expires-in",
                 std::to_string(expires_in), "--role-arn", role_arn, "--token", token,
                 "--fail-after", std::to_string(fail_after)}) {
    auto line = process.read_line(30);
    if (!line) throw std::runtime_error("aws_fake.py did not start: " + process.output());
    url = "http://127.0.0.1:" + *line;
  }
  // How many sets of keys it handed out (`kind` imds or sts), once stopped.
  size_t handed_out(const std::string& kind) {
    process.signal(SIGTERM);
    process.wait();
    size_t n = 0;
    for (size_t at = 0; (at = process.output().find("keys " + kind, at)) != std::string::npos; ++at)
      ++n;
    return n;
  }
  BackgroundProcess process;
  std::string url;
};

// An EC2 instance role (IMDSv2): keys valid for an hour are fetched once; keys that expire within
// the 5 minutes chexport renews them before are fetched again during the run.
TEST(S3, AnInstanceRoleItsKeysRenewedBeforeTheyExpire) {
  std::string bucket = fresh_bucket();
  TempDir dir;
  std::map<std::string, std::string> env = keyless_env(dir);
  env.erase("AWS_EC2_METADATA_DISABLED");
  env["AWS_ENDPOINT_URL"] = test_s3().endpoint();
  {
    AwsFake imds(3600);
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.url;
    auto r = export_small("s3://" + bucket + "/hour", env);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("S3 credentials from instance role exporter (temporary)"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(imds.handed_out("imds"), 1u);
  }
  {
    AwsFake soon(60);
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = soon.url;
    auto r = export_small("s3://" + bucket + "/minute", env);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_GT(soon.handed_out("imds"), 1u);
    EXPECT_EQ(run_chexport({"verify", "s3://" + bucket + "/minute"}, test_s3().env()).exit_code, 0);
  }
  // The service refuses to renew keys that still hold for 4 minutes: the run goes on with them,
  // saying so.
  AwsFake once(240, "", "", 1);
  env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = once.url;
  auto r = export_small("s3://" + bucket + "/once", env);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("could not renew the S3 credentials from instance role exporter"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(once.handed_out("imds"), 1u);
  EXPECT_EQ(run_chexport({"verify", "s3://" + bucket + "/once"}, test_s3().env()).exit_code, 0);
}

// A Kubernetes service account: AWS_ROLE_ARN and a token file, exchanged at STS
// (AWS_ENDPOINT_URL_STS: the fake); a token STS refuses is an authentication error.
TEST(S3, AWebIdentityTokenExchangedAtSts) {
  std::string bucket = fresh_bucket();
  TempDir dir;
  std::ofstream(dir.path() / "token") << "eyJ.service-account.token\n";
  const std::string role = "arn:aws:iam::123456789012:role/exporter";
  std::map<std::string, std::string> env = keyless_env(dir);
  env["AWS_ENDPOINT_URL"] = test_s3().endpoint();
  env["AWS_ROLE_ARN"] = role;
  env["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir.str() + "/token";
  {
    AwsFake sts(3600, role, "eyJ.service-account.token");
    env["AWS_ENDPOINT_URL_STS"] = sts.url;
    auto r = export_small("s3://" + bucket + "/sts", env);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("S3 credentials from web identity (" + role + ") (temporary)"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(sts.handed_out("sts"), 1u);
  }
  AwsFake refusing(3600, role, "another-token");
  env["AWS_ENDPOINT_URL_STS"] = refusing.url;
  auto r = export_small("s3://" + bucket + "/refused", env);
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("web identity: AssumeRoleWithWebIdentity at " + refusing.url + " for " +
                          role + ": HTTP 403 AccessDenied"),
            std::string::npos)
      << r.output;
}

// chexport import from a bucket: the files are read from S3 as they are sent, the journal is kept
// next to the export, and verify still finds the export whole.
TEST(S3, ImportFromABucket) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (k UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY k ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT number % 3, number, concat('\"', toString(number), ',\\n') FROM "
             "numbers(30000)");
  std::string prefix = "s3://" + bucket + "/exports/for import";
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", prefix,
                         "--max-rows-per-file", "4000"},
                        test_s3().env());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string into = db + "_copy";
  http_query("DROP DATABASE IF EXISTS " + into);
  auto imported = run_chexport({"import", prefix, "--url", test_server().url(), "--database", into,
                                "--create-tables", "-j", "2"},
                               test_s3().env());
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_NE(imported.output.find("imported 3 of 3 group(s), 30000 rows"), std::string::npos)
      << imported.output;
  EXPECT_EQ(http_query("SELECT * FROM " + into + ".t ORDER BY n FORMAT CSV"),
            http_query("SELECT * FROM " + db + ".t ORDER BY n FORMAT CSV"));
  auto journal = list_objects(bucket, "exports/for import/.chexport-import/");
  EXPECT_EQ(journal.size(), 1u);
  auto verify = run_chexport({"verify", prefix}, test_s3().env());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  auto again = run_chexport({"import", prefix, "--url", test_server().url(), "--database", into},
                            test_s3().env());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("3 loaded by an earlier run, kept"), std::string::npos)
      << again.output;
  http_query("DROP DATABASE " + into);
}

// ClickHouse's s3() (26.7, in clickhouse-local) reads an export in a bucket with the glob and the
// structure docs/reading-exports.md gives, split partitions included.
TEST(S3, ClickHouseS3FunctionReadsEveryRowWithTheDocumentedGlob) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (k String, n UInt64) ENGINE = MergeTree PARTITION BY k ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT arrayElement(['a', 'x y', 'k=v'], number % 3 + 1), number FROM "
             "numbers(3000)");
  auto r =
      run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                    "s3://" + bucket + "/arch", "--split-field", "n", "--max-rows-per-task", "400"},
                   test_s3().env());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const TestS3& s3 = test_s3();
  std::string source = "s3('" + s3.endpoint() + "/" + bucket + "/arch/" + db +
                       "/t/*/*/*.csv.zst', '" + s3.access_key + "', '" + s3.secret_key +
                       "', 'CSV', 'k String, n UInt64')";
  EXPECT_EQ(clickhouse_local("SELECT decodeURLComponent(partition) AS v, count(), sum(n), "
                             "countIf(k = v) FROM " +
                             source + " GROUP BY v ORDER BY v SETTINGS use_hive_partitioning = 1"),
            http_query("SELECT k, count(), sum(n), count() FROM " + db +
                       ".t GROUP BY k ORDER BY k FORMAT TSVRaw"));
  // Each partition of 1,000 rows is cut into ranges of at most 400, all at the glob's depth.
  EXPECT_EQ(clickhouse_local("SELECT count(DISTINCT _path) >= 9 FROM " + source), "1\n");
}

TEST(S3, FilesLargerThanOnePartInBoundedMemory) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  // Hashes compress poorly: each partition's file is several 5 MiB parts.
  http_query(
      "CREATE TABLE " + db +
      ".big (p UInt8, a UInt64, b UInt64, c UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY a");
  http_query("INSERT INTO " + db +
             ".big SELECT number % 2, cityHash64(number), cityHash64(number, 1), "
             "cityHash64(number, 2) FROM numbers(3000000)");
  TempDir unused;
  std::vector<std::string> argv = {chexport_binary(),
                                   "export",
                                   "--url",
                                   test_server().url(),
                                   "-t",
                                   db + ".big",
                                   "-o",
                                   "s3://" + bucket + "/big",
                                   "--s3-part-size",
                                   "5MiB",
                                   "--workers",
                                   "2",
                                   "--zstd-level",
                                   "1",
                                   "--max-rows-per-file",
                                   "500000"};
  BackgroundProcess run(argv, test_s3().env());
  ASSERT_EQ(run.wait(), 0) << run.output();
  auto objects = list_objects(bucket, "big/");
  uint64_t largest = 0;
  for (const auto& [key, size] : objects) largest = std::max(largest, size);
  // Three files per task, each of several parts: memory holds one part per worker, not per file.
  EXPECT_GT(largest, 2u * (5u << 20)) << "the files should span several parts";
  EXPECT_EQ(objects.size(), 2u + 2u * 3u);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Sanitizers' shadow memory inflates RSS; the bound holds for a normal build.
  std::cout << "peak RSS under a sanitizer: " << run.max_rss_kib() << " KiB (not checked)\n";
#else
  EXPECT_LT(run.max_rss_kib(), 64 * 1024) << "peak RSS " << run.max_rss_kib() << " KiB";
#endif
  EXPECT_EQ(records_digest(exported_csv(bucket, "big")),
            records_digest(http_query("SELECT * FROM " + db + ".big FORMAT CSV")));
  auto verify = run_chexport({"verify", "s3://" + bucket + "/big"}, test_s3().env());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST(S3, WrongSecretIsOneClearErrorWithoutRetries) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db + ".t (n UInt8) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t VALUES (1)");
  auto env = test_s3().env();
  env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-at-all";
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                         "s3://" + bucket + "/x", "--retries", "5"},
                        env);
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("HTTP 403 SignatureDoesNotMatch"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("not-the-secret-at-all"), std::string::npos) << r.output;
  EXPECT_TRUE(list_objects(bucket, "x/").empty());
}

TEST(S3, AnInterruptedUploadLeavesNoPartialObjectAndResumes) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, a UInt64, b UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY a");
  http_query(
      "INSERT INTO " + db +
      ".t SELECT number % 6, cityHash64(number), cityHash64(number, 7) FROM numbers(6000000)");
  // One part per partition: a background merge would change the data's version, and the resume
  // would (rightly) export those partitions again.
  settle_parts(db, "t");
  std::vector<std::string> argv = {chexport_binary(),
                                   "export",
                                   "--url",
                                   test_server().url(),
                                   "-t",
                                   db + ".t",
                                   "-o",
                                   "s3://" + bucket + "/r",
                                   "--s3-part-size",
                                   "5MiB",
                                   "--progress",
                                   "json",
                                   "--zstd-level",
                                   "1"};
  {
    BackgroundProcess run(argv, test_s3().env());
    ASSERT_TRUE(run.wait_for("\"event\":\"task_finished\"")) << run.output();
    run.signal(SIGINT);
    EXPECT_EQ(run.wait(), 130) << run.output();
  }
  // Only whole files are visible: every data object is listed, complete, in the manifest.
  simdjson::dom::parser parser;
  std::string text = get_object(bucket, "r/manifest.json");
  simdjson::dom::element manifest = parser.parse(text);
  std::set<std::string> listed;
  uint64_t done = 0;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    done += std::string_view(t["status"]) == "done";
    for (simdjson::dom::element f : t["files"].get_array())
      listed.insert("r/" + std::string(std::string_view(f["path"])));
  }
  EXPECT_GE(done, 1u);
  EXPECT_LT(done, 6u);
  for (const auto& [key, size] : list_objects(bucket, "r/")) {
    if (key.find("/part-") != std::string::npos) {
      EXPECT_TRUE(listed.count(key)) << key << " is not in the manifest";
    }
  }
  // The same options (without --progress, which does not shape the files).
  auto again =
      run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                    "s3://" + bucket + "/r", "--s3-part-size", "5MiB", "--zstd-level", "1"},
                   test_s3().env());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find(std::to_string(done) + " task(s) already done and verified"),
            std::string::npos)
      << again.output;
  EXPECT_EQ(s3_call("GET", "/" + bucket + "?prefix=r%2F&uploads=").find("<Upload>"),
            std::string::npos)
      << "unfinished multipart uploads are aborted";
  EXPECT_EQ(records_digest(exported_csv(bucket, "r")),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
}

// Another run's lock on the prefix: refused while it is fresh, even with --break-lock; a stale
// one is broken only when asked; the run's own lock is gone when it ends.
TEST(S3, OneRunPerPrefixAndStaleLocksBreakOnlyWhenAsked) {
  std::string db = fresh_database();
  std::string bucket = fresh_bucket();
  http_query("CREATE TABLE " + db + ".t (n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number FROM numbers(100)");
  std::vector<std::string> args = {"export",  "--url", test_server().url(),    "-t",
                                   db + ".t", "-o",    "s3://" + bucket + "/l"};
  std::string lock = "/" + bucket + "/l/.chexport.lock";
  LockHolder other;
  other.run_id = "run-0123456789abcdef";
  other.host = "elsewhere";
  other.pid = 4242;
  other.started_at = "2026-11-01T00:00:00Z";
  other.refreshed_at =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  long status = 0;
  s3_call("PUT", lock, other.json(), &status);
  ASSERT_EQ(status, 200);
  std::string in_use = "s3://" + bucket +
                       "/l is in use by another chexport run: run run-0123456789abcdef (pid 4242 "
                       "on host elsewhere, started 2026-11-01T00:00:00Z); last refreshed ";
  auto refused = run_chexport(args, test_s3().env());
  EXPECT_EQ(refused.exit_code, 7) << refused.output;
  EXPECT_NE(refused.output.find(in_use), std::string::npos) << refused.output;
  args.push_back("--break-lock");
  auto alive = run_chexport(args, test_s3().env());
  EXPECT_EQ(alive.exit_code, 7) << alive.output;
  EXPECT_NE(alive.output.find("so it looks alive"), std::string::npos) << alive.output;

  other.refreshed_at -= 3600;  // its run died an hour ago
  s3_call("PUT", lock, other.json(), &status);
  auto broken = run_chexport(args, test_s3().env());
  ASSERT_EQ(broken.exit_code, 0) << broken.output;
  EXPECT_NE(broken.output.find("breaking the stale lock of run run-0123456789abcdef"),
            std::string::npos)
      << broken.output;
  EXPECT_FALSE(list_objects(bucket, "l/").count("l/.chexport.lock"));
  EXPECT_TRUE(list_objects(bucket, "l/").count("l/manifest.json"));
}

// Virtual-hosted addressing (the bucket in the host name) by the flag and by the profile's
// "s3 = addressing_style", path-style otherwise with an endpoint: nginx logs the host each
// request named.
TEST(S3, VirtualHostedOrPathStyleAddressing) {
  std::string bucket = fresh_bucket();
  LoggedS3 s3;
  auto env = s3.env();
  env["AWS_ENDPOINT_URL"] = s3.localhost_url();
  auto all_virtual = [&](const std::vector<std::string>& requests) {
    EXPECT_FALSE(requests.empty());
    for (const auto& r : requests) {
      EXPECT_TRUE(r.starts_with(bucket + ".localhost /")) << r;
      EXPECT_FALSE(r.find(" /" + bucket + "/") != std::string::npos) << r;
    }
  };
  auto r = export_small("s3://" + bucket + "/virtual", env, {"--s3-addressing", "virtual"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  all_virtual(s3.requests());
  TempDir dir;
  std::ofstream(dir.str() + "/config") << "[default]\nregion = us-east-1\ns3 =\n"
                                          "  addressing_style = virtual\n";
  auto profiled = env;
  profiled["AWS_CONFIG_FILE"] = dir.str() + "/config";
  auto verify = run_chexport({"verify", "s3://" + bucket + "/virtual", "--deep"}, profiled);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  all_virtual(s3.requests());

  auto path = run_chexport({"verify", "s3://" + bucket + "/virtual"}, env);
  EXPECT_EQ(path.exit_code, 0) << path.output;
  for (const auto& request : s3.requests())
    EXPECT_TRUE(request.starts_with("localhost /" + bucket + "/")) << request;
  auto bad = run_chexport({"verify", "s3://" + bucket + "/virtual", "--s3-addressing", "dns"}, env);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--s3-addressing"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace chexport::testing
