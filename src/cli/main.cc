// The command line: fills ExportOptions from the config file, the environment and the flags (in
// that order, later ones winning), and calls the engine.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "chexport/cli/config.h"
#include "chexport/clickhouse/clickhouse.h"
#include "chexport/common/error.h"
#include "chexport/common/json_writer.h"
#include "chexport/common/secrets.h"
#include "chexport/common/units.h"
#include "chexport/common/version.h"
#include "chexport/output/s3.h"
#include "chexport/output/store.h"
#include "chexport/plan/plan_report.h"
#include "chexport/run/export_manifest.h"
#include "chexport/run/exporter.h"
#include "chexport/run/importer.h"
#include "chexport/run/verify.h"
#include "chexport/run/verify_content.h"

namespace {

using namespace chexport;

CancelToken cancel_token;

// Log lines on stderr that first clear the progress bar, which redraws itself after them.
class BarAwareSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string text = scrub_secrets(std::string_view(formatted.data(), formatted.size()));
    if (progress_bar_shown.load()) std::fputs("\r\x1b[K", stderr);
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

extern "C" void on_signal(int sig) {
  // A second signal leaves at once: files are still under temp names, nothing is half-final.
  if (cancel_token.requested.load()) _exit(128 + sig);
  cancel_token.exit_code.store(128 + sig);
  cancel_token.requested.store(true);
}

const char* exit_codes_text =
    "Exit codes:\n"
    "  0    every task exported and validated (plan: the plan was made; import: every partition\n"
    "       loaded and counted)\n"
    "  1    internal error\n"
    "  2    usage or configuration error (bad flag, bad config, output already exists)\n"
    "  3    export or import failed (query error, unknown table, truncated or failed stream,\n"
    "       local I/O)\n"
    "  4    validation failed (row counts disagree; a file that does not match its manifest)\n"
    "  5    cannot connect to the server (refused, unreachable, timed out)\n"
    "  6    authentication or authorization refused\n"
    "  7    the output is in use by another chexport run (its lock names it)\n"
    "  130  interrupted (SIGINT), 143 terminated (SIGTERM)\n"
    "\n"
    "Environment: CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD (the password is read only\n"
    "from the environment or a file, never from the command line, and never logged).\n";

// Everything the flags can say; each is applied only when given.
struct Flags {
  std::string config, url, user, password_file, password_env, worker, shard_url;
  std::vector<std::string> tables, settings;
  int server_threads = 0;
  std::string mode, partition_expr, lower, upper, split_field;
  uint64_t max_rows_per_task = 0;
  std::string max_bytes_per_task;
  double connect_timeout = 10;
  long speed_limit = 1, speed_time = 600;
  std::string cacert, capath, cert, key, key_password_file, proxy, noproxy, proxy_user_file;
  bool insecure = false;
  std::string log_level = "info";
  // export only
  std::string manifest, on_file, s3_part_size, s3_profile, s3_addressing, s3_checksum;
  bool delete_after_hook = false;
  std::string out, format, compression, max_bytes, max_compressed_bytes, datetime_format;
  int zstd_level = 3;
  std::string wire_compression;
  int wire_level = 1;
  uint64_t max_rows_per_file = 0;
  int workers = 1;
  bool fresh = false, break_lock = false;
  int retries = 5;
  double retry_delay = 1, retry_max_delay = 30;
  std::string progress = "auto";
  bool quiet = false;
  // plan only
  bool json = false;
  // verify only
  std::string verify_dir, target, target_database, target_user, target_password_file,
      target_password_env;
  bool against_server = false, content = false;
  bool deep = false;  // verify: read S3 objects back
  // import only
  std::string import_source, database, journal;
  bool create_tables = false, dry_run = false;
};

// Counts and limits: digits only, so that "-5" is not read as 18446744073709551611.
CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
          return "must be a whole number, 0 or more, not \"" + text + "\"";
        return "";
      },
      "N");
}

void add_connection_flags(CLI::App* app, Flags& f) {
  app->add_option("--config,-c", f.config,
                  "JSON configuration file (docs/flags-and-configuration.md)");
  app->add_option("--url", f.url,
                  "ClickHouse HTTP(S) URL (env CLICKHOUSE_URL; default http://127.0.0.1:8123)");
  app->add_option("--user", f.user,
                  "user name (env CLICKHOUSE_USER; default: the server's default user)");
  app->add_option("--password-file", f.password_file, "read the password from this file");
  app->add_option("--password-env", f.password_env,
                  "read the password from this environment variable (default CLICKHOUSE_PASSWORD)");
  app->add_option("--server-threads", f.server_threads,
                  "max_threads of each query on the server (sets the max_threads setting)")
      ->check(CLI::Range(1, 4096));
  app->add_option("--setting", f.settings,
                  "key=value ClickHouse setting for every query (repeatable)");
  app->add_option("--connect-timeout", f.connect_timeout, "seconds to wait for a connection")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0).description("").name("SECONDS"));
  app->add_option("--speed-limit", f.speed_limit,
                  "abort a transfer slower than this many bytes/s ...")
      ->capture_default_str()
      ->check(whole_number());
  app->add_option("--speed-time", f.speed_time, "... for this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(1L, 86400L * 365));
  app->add_option("--cacert", f.cacert,
                  "CA certificate bundle for https (default: CURL_CA_BUNDLE, SSL_CERT_FILE, or "
                  "the system's)");
  app->add_option("--capath", f.capath,
                  "directory of CA certificates for https (default: SSL_CERT_DIR)");
  app->add_flag("--insecure,-k", f.insecure, "do not verify the server's TLS certificate");
  app->add_option("--cert", f.cert, "client certificate (PEM) for servers that ask for one");
  app->add_option("--key", f.key, "the client certificate's private key (PEM)");
  app->add_option("--key-password-file", f.key_password_file,
                  "read the private key's passphrase from this file");
  app->add_option("--proxy", f.proxy,
                  "HTTP proxy, http://[user:password@]host:port (default: https_proxy, "
                  "http_proxy, all_proxy)");
  app->add_option("--proxy-user-file", f.proxy_user_file,
                  "read the proxy's user:password from this file (never the command line)");
  app->add_option("--noproxy", f.noproxy,
                  "comma-separated hosts to reach without the proxy ('*': all)");
  app->add_option("--log-level", f.log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
}

void add_common(CLI::App* app, Flags& f) {
  add_connection_flags(app, f);
  app->add_option("--table,-t", f.tables,
                  "table to export, db.table (repeatable; replaces the config's tables)");
  app->add_option("--mode", f.mode,
                  "all (one task per table) or partition (one per partition; default)");
  app->add_option("--partition-expr", f.partition_expr,
                  "group rows into tasks by this expression (default: the partition key)");
  app->add_option("--lower-condition", f.lower,
                  "SQL condition ANDed into every task (oldest data wanted)");
  app->add_option("--upper-condition", f.upper,
                  "SQL condition ANDed into every task (newest data wanted)");
  app->add_option("--split-field", f.split_field,
                  "Date/DateTime/integer column to cut oversized tasks by");
  app->add_option("--max-rows-per-task", f.max_rows_per_task,
                  "split tasks with more rows (0: no limit)")
      ->check(whole_number());
  app->add_option("--max-bytes-per-task", f.max_bytes_per_task,
                  "split tasks with more data, e.g. 20GiB (0: no limit)");
  app->add_option("--datetime-format", f.datetime_format,
                  "text (default: as ClickHouse prints them) or unix (DateTime and DateTime64 as "
                  "Unix time, which re-imports exactly in every time zone)");
}

std::string read_password_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_usage("password file: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string password = ss.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
    password.pop_back();
  return password;
}

void check_url(const std::string& url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    throw_usage("--url must start with http:// or https://, got \"" + url + "\"");
  }
  std::string authority = url.substr(url.find("://") + 3);
  authority = authority.substr(0, authority.find('/'));
  if (authority.find('@') != std::string::npos || url.find("password=") != std::string::npos) {
    throw_usage(
        "--url must not contain credentials; use --user and CLICKHOUSE_PASSWORD or "
        "--password-file");
  }
}

bool given(const CLI::App* app, const char* name) {
  return app->count(name) > 0;
}

// A file the connection needs: it must be there and readable, or the run stops before it starts.
std::string readable_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_usage(what + ": cannot read " + path + ": " + std::strerror(errno));
  return path;
}

std::string readable_dir(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec))
    throw_usage(what + ": " + path + " is not a readable directory");
  return path;
}

// TLS and proxy options: flags over the config file over the environment, as curl reads them.
void apply_tls_and_proxy(const CLI::App* app, const Flags& f, const LoadedConfig& config,
                         ConnectionOptions& c) {
  if (given(app, "--cacert")) {
    c.cacert = readable_file(f.cacert, "--cacert");
  } else if (!c.cacert.empty()) {
    readable_file(c.cacert, "clickhouse.cacert");
  } else {
    for (const char* name : {"CURL_CA_BUNDLE", "SSL_CERT_FILE"}) {
      const char* v = std::getenv(name);
      if (v == nullptr || *v == 0) continue;
      c.cacert = readable_file(v, name);
      break;
    }
  }
  if (given(app, "--capath")) {
    c.capath = readable_dir(f.capath, "--capath");
  } else if (const char* v = std::getenv("SSL_CERT_DIR"); c.capath.empty() && v && *v) {
    c.capath = readable_dir(v, "SSL_CERT_DIR");
  }
  if (given(app, "--cert")) c.cert = f.cert;
  if (given(app, "--key")) c.key = f.key;
  if (!c.cert.empty()) readable_file(c.cert, "--cert");
  if (!c.key.empty()) readable_file(c.key, "--key");
  std::string key_password_file =
      given(app, "--key-password-file") ? f.key_password_file : config.key_password_file;
  if (!key_password_file.empty()) {
    c.key_password = read_password_file(readable_file(key_password_file, "--key-password-file"));
  }
  if (given(app, "--proxy")) c.proxy = f.proxy;
  std::string proxy_user_file =
      given(app, "--proxy-user-file") ? f.proxy_user_file : config.proxy_user_file;
  if (!proxy_user_file.empty()) {
    c.proxy_user = read_password_file(readable_file(proxy_user_file, "--proxy-user-file"));
    if (c.proxy_user.find(':') == std::string::npos)
      throw_usage("--proxy-user-file: " + proxy_user_file + " must hold user:password");
  }
  if (given(app, "--noproxy")) c.noproxy = f.noproxy;
  if (!c.proxy.empty() && !c.proxy.starts_with("http://") && !c.proxy.starts_with("https://") &&
      !c.proxy.starts_with("socks")) {
    throw_usage("--proxy must start with http://, https:// or socks5://, got \"" +
                without_credentials(c.proxy) + "\"");
  }
}

// Connection settings: config file, then environment, then flags.
void apply_connection(const CLI::App* app, const Flags& f, const LoadedConfig& config,
                      ConnectionOptions& c) {
  if (const char* v = std::getenv("CLICKHOUSE_URL"); v != nullptr && *v) c.url = v;
  if (const char* v = std::getenv("CLICKHOUSE_USER"); v != nullptr && *v) c.user = v;
  if (given(app, "--url")) c.url = f.url;
  if (given(app, "--user")) c.user = f.user;
  check_url(c.url);
  // Settings in the URL's query string are settings like --setting's (which override them): the
  // same checks, and the same resume rules.
  if (auto q = c.url.find('?'); q != std::string::npos) {
    std::string query = c.url.substr(q + 1);
    c.url.erase(q);
    for (size_t start = 0; start < query.size();) {
      size_t end = std::min(query.find('&', start), query.size());
      std::string pair = query.substr(start, end - start);
      start = end + 1;
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      std::string key = url_decode(pair.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
      std::erase_if(c.settings, [&](const auto& kv) { return kv.first == key; });
      c.settings.emplace_back(std::move(key), std::move(value));
    }
  }

  // A flag beats the file: --password-env overrides the config's password_file too.
  std::string password_file = given(app, "--password-file")  ? f.password_file
                              : given(app, "--password-env") ? std::string()
                                                             : config.password_file;
  std::string password_env = given(app, "--password-env")  ? f.password_env
                             : config.password_env.empty() ? "CLICKHOUSE_PASSWORD"
                                                           : config.password_env;
  if (!password_file.empty()) {
    c.password = read_password_file(password_file);
  } else if (const char* p = std::getenv(password_env.c_str())) {
    c.password = p;
  } else if (given(app, "--password-env") || !config.password_env.empty()) {
    throw_usage("the password variable " + password_env + " is not set");
  }

  for (const std::string& s : f.settings) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      throw_usage("--setting must be key=value, got \"" + s + "\"");
    std::string key = s.substr(0, eq);
    std::erase_if(c.settings, [&](const auto& kv) { return kv.first == key; });
    c.settings.emplace_back(std::move(key), s.substr(eq + 1));
  }
  if (given(app, "--server-threads")) {
    if (f.server_threads < 1) throw_usage("--server-threads must be at least 1");
    std::erase_if(c.settings, [](const auto& kv) { return kv.first == "max_threads"; });
    c.settings.emplace_back("max_threads", std::to_string(f.server_threads));
  }
  for (const auto& [key, value] : c.settings) {
    // Credentials never travel as URL parameters; query and session ids are chexport's own.
    for (const char* reserved : {"user", "password", "quota_key", "query_id", "session_id"}) {
      if (key == reserved) {
        throw_usage("setting " + key + " is not allowed: " +
                    (key == "user" || key == "password"
                         ? std::string("use --user and CLICKHOUSE_PASSWORD or --password-file")
                         : std::string("chexport sets it itself")));
      }
    }
  }
  if (given(app, "--connect-timeout"))
    c.connect_timeout_ms = static_cast<long>(f.connect_timeout * 1000);
  if (given(app, "--speed-limit")) c.speed_limit = f.speed_limit;
  if (given(app, "--speed-time")) c.speed_time = f.speed_time;
  apply_tls_and_proxy(app, f, config, c);
  if (f.insecure) c.insecure = true;
}

// Tables: --table replaces the config's list; table flags apply to the single-table case.
void apply_tables(const CLI::App* app, const Flags& f, ExportOptions& o) {
  if (given(app, "--table")) {
    o.tables.clear();
    for (const std::string& t : f.tables)
      o.tables.push_back(TableSpec{parse_table_ref(t), TableMode::partition, "", "", "", ""});
  }
  bool table_flags = given(app, "--mode") || given(app, "--partition-expr") ||
                     given(app, "--lower-condition") || given(app, "--upper-condition") ||
                     given(app, "--split-field");
  if (table_flags && o.tables.size() > 1 && !given(app, "--table")) {
    throw_usage(
        "--mode, --partition-expr, --lower-condition, --upper-condition and --split-field "
        "apply to a single table; the config lists " +
        std::to_string(o.tables.size()));
  }
  for (TableSpec& t : o.tables) {
    if (given(app, "--mode")) {
      if (f.mode != "all" && f.mode != "partition")
        throw_usage("--mode must be all or partition, not \"" + f.mode + "\"");
      t.mode = f.mode == "all" ? TableMode::all : TableMode::partition;
    }
    if (given(app, "--partition-expr")) t.partition_expr = f.partition_expr;
    if (given(app, "--lower-condition")) t.lower_condition = f.lower;
    if (given(app, "--upper-condition")) t.upper_condition = f.upper;
    if (given(app, "--split-field")) t.split_field = f.split_field;
  }
  if (o.tables.empty())
    throw_usage("no table to export: give --table db.table or a config with \"tables\"");
  if (given(app, "--max-rows-per-task")) o.split.max_rows_per_task = f.max_rows_per_task;
  if (given(app, "--max-bytes-per-task"))
    o.split.max_bytes_per_task = parse_size(f.max_bytes_per_task, "--max-bytes-per-task");
}

// Where the export goes, and what must not go with it.
void apply_destination(const CLI::App* app, const Flags& f, const LoadedConfig& config,
                       OutputOptions& out) {
  if (given(app, "--out")) out.dir = f.out;
  if (out.dir.empty())
    throw_usage("no output directory: give --out DIR or \"output\": {\"dir\": ...}");
  if (given(app, "--manifest")) out.manifest_path = f.manifest;
  if (given(app, "--on-file")) out.on_file = f.on_file;
  out.delete_after_hook = f.delete_after_hook;
  if (out.delete_after_hook && out.on_file.empty())
    throw_usage("--delete-after-hook needs --on-file");
  if (out.to_stdout() && !out.on_file.empty())
    throw_usage("--on-file needs files: it cannot be used with --out -");
  if (is_s3_url(out.dir) && out.delete_after_hook) {
    throw_usage(
        "--delete-after-hook is for local files; with s3:// there is nothing local to delete");
  }
  if (!out.manifest_path.empty() && !out.to_stdout()) {
    throw_usage("--manifest is for --out -; a directory or bucket keeps its manifest.json itself");
  }
  if (given(app, "--s3-part-size")) out.s3_part_size = parse_size(f.s3_part_size, "--s3-part-size");
  if (given(app, "--s3-profile")) out.s3_profile = f.s3_profile;
  if (given(app, "--s3-addressing")) out.s3_addressing = f.s3_addressing;
  if (given(app, "--s3-checksum")) {
    if (f.s3_checksum != "sha256" && f.s3_checksum != "none")
      throw_usage("--s3-checksum must be sha256 or none, not \"" + f.s3_checksum + "\"");
    out.s3_checksums = f.s3_checksum == "sha256";
  }
  // The hook must not see the ClickHouse password, whichever variable it came from.
  out.hidden_env = {"CLICKHOUSE_PASSWORD"};
  if (given(app, "--password-env")) out.hidden_env.push_back(f.password_env);
  if (!config.password_env.empty()) out.hidden_env.push_back(config.password_env);
  if (out.to_stdout() && isatty(STDOUT_FILENO)) {
    throw_usage(
        "--out -: stdout is a terminal; pipe it somewhere (| zstd -dc | head, | aws s3 cp - "
        "s3://...)");
  }
  if (given(app, "--fresh")) out.fresh = f.fresh;
  out.break_lock = f.break_lock;
  if (given(app, "--worker"))
    out.worker = parse_worker_share(f.worker, std::getenv("JOB_COMPLETION_INDEX"));
}

// What the files look like.
void apply_file_shape(const CLI::App* app, const Flags& f, OutputOptions& out) {
  if (given(app, "--format")) out.format = f.format;
  if (out.format != "CSV" && out.format != "CSVWithNames") {
    throw_usage("--format must be CSV or CSVWithNames, not \"" + out.format + "\"");
  }
  if (given(app, "--compression")) {
    if (f.compression != "zstd" && f.compression != "none") {
      throw_usage("--compression must be zstd or none, not \"" + f.compression + "\"");
    }
    out.compression = f.compression == "zstd" ? Compression::zstd : Compression::none;
  }
  if (given(app, "--zstd-level")) out.zstd_level = f.zstd_level;
  if (given(app, "--max-rows-per-file")) out.limits.max_rows = f.max_rows_per_file;
  if (given(app, "--max-bytes-per-file"))
    out.limits.max_csv_bytes = parse_size(f.max_bytes, "--max-bytes-per-file");
  if (given(app, "--max-compressed-bytes-per-file")) {
    out.limits.max_compressed_bytes =
        parse_size(f.max_compressed_bytes, "--max-compressed-bytes-per-file");
  }
}

// How the server compresses what it sends: flags over the config file.
void apply_wire(const CLI::App* app, const Flags& f, WireCompression& wire) {
  if (given(app, "--wire-compression")) {
    auto method = wire_method_from_name(f.wire_compression);
    if (!method) {
      throw_usage("--wire-compression must be auto, zstd, lz4, gzip, deflate or none, not \"" +
                  f.wire_compression + "\"");
    }
    wire.method = *method;
  }
  if (given(app, "--wire-level")) wire.level = f.wire_level;
  if (wire.level) check_wire_level(wire.method, *wire.level);
  if (wire.level && wire.method == WireMethod::none)
    spdlog::warn("--wire-level {} has no effect with --wire-compression none", *wire.level);
}

// Workers, retries and progress.
void apply_run(const CLI::App* app, const Flags& f, ExportOptions& o) {
  if (given(app, "--workers")) o.workers = f.workers;
  if (o.workers < 1 || o.workers > 256) throw_usage("--workers must be 1 to 256");
  if (o.output.to_stdout() && o.workers > 1) {
    spdlog::warn(
        "--out -: tasks go to stdout one after another in the plan's order; --workers {} is "
        "ignored",
        o.workers);
  }
  if (given(app, "--retries")) o.retry.retries = f.retries;
  if (given(app, "--retry-delay")) o.retry.first_delay = f.retry_delay;
  if (given(app, "--retry-max-delay")) o.retry.max_delay = f.retry_max_delay;
  if (o.retry.retries < 0 || o.retry.first_delay < 0 || o.retry.max_delay < 0) {
    throw_usage("--retries, --retry-delay and --retry-max-delay must not be negative");
  }
  if (f.progress == "json") {
    o.progress = ProgressMode::json;
  } else if (f.progress == "bar") {
    o.progress = ProgressMode::bar;
  } else if (f.progress == "none") {
    o.progress = ProgressMode::none;
  } else if (f.progress == "auto") {
    o.progress = (!f.quiet && isatty(STDERR_FILENO)) ? ProgressMode::bar : ProgressMode::none;
  } else {
    throw_usage("--progress must be auto, bar, json or none, not \"" + f.progress + "\"");
  }
}

void add_s3_profile(CLI::App* app, Flags& f) {
  app->add_option("--s3-profile", f.s3_profile,
                  "the AWS profile (of ~/.aws/credentials and ~/.aws/config) for s3:// (default: "
                  "the AWS_* keys, else AWS_PROFILE, else \"default\")");
  app->add_option("--s3-addressing", f.s3_addressing,
                  "path (https://host/bucket/key), virtual (https://bucket.host/key) or auto "
                  "(default: the profile's s3 addressing_style, else auto: path with an "
                  "endpoint, virtual on AWS)")
      ->check(CLI::IsMember({"path", "virtual", "auto"}));
  app->add_option("--s3-checksum", f.s3_checksum,
                  "sha256 (default): S3 keeps each object's SHA-256 and checks every part, and "
                  "resume and verify compare it; none: for S3-compatible stores that refuse "
                  "x-amz-checksum-* headers")
      ->check(CLI::IsMember({"sha256", "none"}));
}

void add_export_flags(CLI::App* exp, Flags& f) {
  exp->add_option("--out,-o", f.out,
                  "output directory, s3://bucket/prefix (AWS_* credentials), or - for one zstd "
                  "stream on stdout");
  exp->add_option("--s3-part-size", f.s3_part_size,
                  "multipart upload part size for s3:// (default 8MiB, at least 5MiB)");
  add_s3_profile(exp, f);
  exp->add_option("--on-file", f.on_file,
                  "run this shell command for each finished, validated file (CHEXPORT_FILE, "
                  "CHEXPORT_ROWS, ...)");
  exp->add_flag("--delete-after-hook", f.delete_after_hook,
                "remove each file once its --on-file command succeeded");
  exp->add_option("--manifest", f.manifest,
                  "write the manifest here (default <out>/manifest.json; with --out -, none)");
  exp->add_option("--format", f.format, "CSV (default) or CSVWithNames");
  exp->add_option("--compression", f.compression, "zstd (default) or none");
  exp->add_option("--zstd-level", f.zstd_level,
                  "zstd level (1-22; negative levels are faster; default 3)")
      ->check(CLI::Range(-131072, 22));
  exp->add_option("--wire-compression", f.wire_compression,
                  "how the server compresses what it sends: auto (default: zstd, else gzip; "
                  "none where this user may not ask), zstd, lz4, gzip, deflate or none");
  exp->add_option("--wire-level", f.wire_level,
                  "the server's compression level (default 1, the fastest; gzip and deflate "
                  "1-9, zstd 1-22, lz4 1-12)");
  exp->add_option("--max-rows-per-file", f.max_rows_per_file,
                  "start a new file after this many rows (default 100000000; 0: no limit)")
      ->check(whole_number());
  exp->add_option("--max-bytes-per-file", f.max_bytes,
                  "start a new file after this much CSV (e.g. 1GiB; 0: no limit)");
  exp->add_option("--max-compressed-bytes-per-file", f.max_compressed_bytes,
                  "start a new file after about this much compressed output (0: no limit)");
  exp->add_option("--workers,-j", f.workers, "tasks exported at once (default 1)");
  exp->add_option("--shard-url", f.shard_url,
                  "TEMPLATE: read each shard of a Distributed table straight from one of its "
                  "replicas at this URL, {host} its host name (e.g. https://{host}:8443), the "
                  "next replica on connection errors");
  exp->add_option("--worker", f.worker,
                  "K/N: export share K of N of the plan, beside N-1 other hosts running the same "
                  "command into the same output (auto/N: K from JOB_COMPLETION_INDEX + 1)");
  exp->add_flag("--break-lock", f.break_lock,
                "take an s3:// output's lock from a run that has not refreshed it for 10 minutes");
  exp->add_flag(
      "--fresh", f.fresh,
      "start over: replace an earlier export in the output directory instead of resuming it");
  exp->add_option("--retries", f.retries,
                  "further attempts for a task after a transient failure (default 5)");
  exp->add_option("--retry-delay", f.retry_delay,
                  "seconds before the first retry, doubled each time (default 1)");
  exp->add_option("--retry-max-delay", f.retry_max_delay,
                  "cap on the delay between attempts, seconds (default 30)");
  exp->add_option("--progress", f.progress,
                  "auto (a live line on a terminal), bar, json (events on stderr) or none");
  exp->add_flag("--quiet,-q", f.quiet, "print only errors");
}

ExportOptions build_options(const CLI::App* app, const Flags& f, bool exporting) {
  LoadedConfig config;
  if (given(app, "--config")) config = load_config(f.config);
  ExportOptions o = config.options;
  apply_connection(app, f, config, o.connection);
  apply_tables(app, f, o);
  if (given(app, "--datetime-format"))
    o.output.datetime_format = parse_datetime_format(f.datetime_format, "--datetime-format");
  if (exporting) {
    apply_destination(app, f, config, o.output);
    apply_file_shape(app, f, o.output);
    apply_wire(app, f, o.wire);
    apply_run(app, f, o);
    if (given(app, "--shard-url")) o.shard_url = f.shard_url;
  }
  return o;
}

void add_import_flags(CLI::App* imp, Flags& f) {
  imp->add_option("source", f.import_source, "the export: its directory or s3://bucket/prefix")
      ->required();
  add_s3_profile(imp, f);
  add_connection_flags(imp, f);
  imp->add_option("--table,-t", f.tables,
                  "load only this table of the export, db.table (repeatable; default: all)");
  imp->add_option("--database", f.database,
                  "load into this database instead of the export's (tables of one database)");
  imp->add_flag("--create-tables", f.create_tables,
                "create a table that does not exist from the export's schema.sql");
  imp->add_flag("--dry-run", f.dry_run, "print what would be loaded and change nothing");
  imp->add_option("--journal", f.journal,
                  "keep the import's journal in this local file (default: in the export, "
                  ".chexport-import/)");
  imp->add_option("--wire-compression", f.wire_compression,
                  "how files travel: auto (as they are, zstd, where the server reads it; else "
                  "decompressed), zstd or none");
  imp->add_option("--workers,-j", f.workers, "partitions loaded at once (default 1)");
  imp->add_option("--retries", f.retries,
                  "further attempts for a partition after a transient failure (default 5)");
  imp->add_option("--retry-delay", f.retry_delay,
                  "seconds before the first retry, doubled each time (default 1)");
  imp->add_option("--retry-max-delay", f.retry_max_delay,
                  "cap on the delay between attempts, seconds (default 30)");
  imp->add_option("--progress", f.progress,
                  "auto (a live line on a terminal), bar, json (events on stderr) or none");
  imp->add_flag("--quiet,-q", f.quiet, "print only errors");
}

ImportOptions build_import_options(const CLI::App* app, const Flags& f) {
  LoadedConfig config;
  if (given(app, "--config")) config = load_config(f.config);
  ImportOptions o;
  o.connection = config.options.connection;
  apply_connection(app, f, config, o.connection);
  o.source = f.import_source;
  for (const std::string& t : f.tables) o.tables.push_back(parse_table_ref(t));
  if (given(app, "--database") && f.database.empty()) throw_usage("--database must not be empty");
  o.database = f.database;
  o.create_tables = f.create_tables;
  o.dry_run = f.dry_run;
  o.journal = f.journal;
  if (given(app, "--wire-compression")) {
    if (f.wire_compression == "zstd") {
      o.send = SendCompression::zstd;
    } else if (f.wire_compression == "none") {
      o.send = SendCompression::none;
    } else if (f.wire_compression != "auto") {
      throw_usage("import --wire-compression must be auto, zstd or none, not \"" +
                  f.wire_compression + "\"");
    }
  }
  ExportOptions run = config.options;  // workers, retries and progress as export reads them
  run.output.dir.clear();
  apply_run(app, f, run);
  o.retry = run.retry;
  o.workers = run.workers;
  o.progress = run.progress;
  return o;
}

// The end of an export or import run: its summary line, or what an interruption left.
int finish_run(int exit_code, const std::string& summary, const char* after_interruption) {
  if (cancel_token.requested.load()) {
    spdlog::error("interrupted; {}", after_interruption);
    return cancel_token.exit_code.load();
  }
  if (exit_code == 0) {
    spdlog::info("{}", summary);
  } else {
    spdlog::error("{}", summary);
  }
  return exit_code;
}

void install_signal_handlers() {
  std::signal(SIGPIPE, SIG_IGN);  // a closed stderr pipe must not kill a run mid-commit
  std::signal(SIGCHLD, SIG_DFL);  // an inherited SIG_IGN would hide how --on-file ended
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

// The server an export was imported into: the source's connection flags, with its own URL and,
// when given, its own user and password (never the source's password for another user).
ConnectionOptions target_connection(const CLI::App* app, const Flags& f, ConnectionOptions to) {
  check_url(f.target);
  to.url = f.target;
  if (given(app, "--target-user")) {
    to.user = f.target_user;
    to.password.clear();
  }
  std::string env =
      f.target_password_env.empty() ? "CLICKHOUSE_TARGET_PASSWORD" : f.target_password_env;
  if (given(app, "--target-password-file")) {
    to.password =
        read_password_file(readable_file(f.target_password_file, "--target-password-file"));
  } else if (const char* p = std::getenv(env.c_str())) {
    to.password = p;
  } else if (given(app, "--target-password-env")) {
    throw_usage("the password variable " + env + " is not set");
  }
  return to;
}

int run_verify(const CLI::App* app, const Flags& f) {
  std::unique_ptr<ClickHouseClient> client;
  std::unique_ptr<Store> store = open_store(f.verify_dir);
  const ExportManifest manifest = read_export_manifest(*store);
  if (f.against_server) {
    LoadedConfig config;
    if (given(app, "--config")) config = load_config(f.config);
    ConnectionOptions connection = config.options.connection;
    // By default, the server the export read, as its manifest says.
    const char* env_url = std::getenv("CLICKHOUSE_URL");
    if (connection.url == ConnectionOptions{}.url && (env_url == nullptr || *env_url == 0)) {
      if (!manifest.server_url.empty()) connection.url = manifest.server_url;
    }
    apply_connection(app, f, config, connection);
    client = std::make_unique<ClickHouseClient>(connection);
    client->set_cancel_flag(&cancel_token.requested);
  }
  std::unique_ptr<ClickHouseClient> target;
  if (given(app, "--target") && !f.content)
    throw_usage("--target is the server an export was imported into, for --content");
  if (f.content) {
    if (!f.against_server || f.target.empty())
      throw_usage("--content needs --against-server and --target URL (the server imported into)");
    target = std::make_unique<ClickHouseClient>(target_connection(app, f, client->options()));
    target->set_cancel_flag(&cancel_token.requested);
  }
  VerifyReport report = verify_export(*store, manifest, client.get(), f.deep);
  size_t compared = 0;
  if (target != nullptr) {
    compared = compare_content(*store, manifest, *client,
                               ContentTarget{target.get(), f.target, f.target_database, f.journal},
                               report.problems);
  }
  for (const std::string& problem : report.problems) std::cout << problem << "\n";
  std::cout.flush();
  if (!report.problems.empty()) {
    spdlog::error("{}: {} problem(s) in {} file(s), {} rows", f.verify_dir, report.problems.size(),
                  report.files, report.rows);
    return exit_code::validation;
  }
  std::string handed_off = report.handed_off == 0 ? std::string()
                                                  : " (" + std::to_string(report.handed_off) +
                                                        " handed off to --on-file and removed)";
  std::string headed =
      report.headed == 0
          ? std::string()
          : " (" + std::to_string(report.headed) + " S3 object(s) by size and ETag" +
                (report.checksummed == 0 ? std::string()
                 : report.checksummed == report.headed
                     ? ", and the SHA-256 S3 keeps"
                     : ", " + std::to_string(report.checksummed) + " by the SHA-256 S3 keeps too") +
                ", as uploaded; --deep reads them back)";
  spdlog::info("{}: OK: {} file(s), {} rows, {} bytes verified{}{}{}{}", f.verify_dir, report.files,
               report.rows, report.bytes, headed, handed_off,
               f.against_server ? ", counts match the server" : "",
               target == nullptr ? std::string()
                                 : ", content of " + std::to_string(compared) +
                                       " imported partition(s) matches " + f.target);
  return exit_code::ok;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean --table?)" for the nearest flag or command to a word the parser did not know.
std::string did_you_mean(const CLI::App& app, const std::string& message) {
  std::vector<std::string> known;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    known.push_back(sub->get_name());
    for (const CLI::Option* o : sub->get_options()) {
      for (const std::string& name : o->get_lnames()) known.push_back("--" + name);
    }
  }
  std::string best, word;
  size_t best_distance = SIZE_MAX;
  std::istringstream words(message);
  while (words >> word) {
    if (word.size() >= 2 && word.front() == '"' && word.back() == '"')
      word = word.substr(1, word.size() - 2);
    if (word.size() < 3 || word.back() == ':') continue;
    for (const std::string& k : known) {
      size_t d = edit_distance(word, k);
      if (d < best_distance && d > 0 && d <= std::max<size_t>(2, k.size() / 4)) {
        best_distance = d;
        best = k;
      }
    }
  }
  return best.empty() ? std::string() : " (did you mean " + best + "?)";
}

int run_plan(const ExportOptions& options, bool json) {
  ClickHouseClient client(options.connection);
  client.set_cancel_flag(&cancel_token.requested);
  client.set_query_retry(
      {options.retry.retries, options.retry.first_delay, options.retry.max_delay});
  ServerVersion version = client.server_version();
  auto plans =
      plan_export(client, version, options.tables, options.split,
                  ColumnOptions{options.output.datetime_format,
                                options.output.format == "CSVWithNames", client.server_timezone()});
  std::cout << (json ? plan_json(plans) : plan_text(plans));
  size_t tasks = 0;
  for (const auto& p : plans) tasks += p.tasks.size();
  if (tasks == 0) spdlog::warn("the plan is empty: no rows within the bounds");
  return exit_code::ok;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = std::make_shared<spdlog::logger>("chexport", std::make_shared<BarAwareSink>());
  logger->set_pattern("chexport: %l: %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"chexport " CHEXPORT_VERSION
               " - export ClickHouse tables over HTTP into validated, rotating zstd CSV files"};
  app.footer(exit_codes_text);
  app.set_version_flag("--version", "chexport " CHEXPORT_VERSION);
  app.require_subcommand(1);

  Flags f;
  auto* exp =
      app.add_subcommand("export", "export tables: one validated task per partition or range");
  auto* plan = app.add_subcommand("plan", "show the tasks an export would run, and export nothing");
  add_common(exp, f);
  add_common(plan, f);
  add_export_flags(exp, f);
  plan->add_flag("--json", f.json, "print the plan as JSON");
  auto* verify = app.add_subcommand(
      "verify", "check an export against its manifest: files, sizes, SHA-256, zstd, rows");
  verify->add_option("dir", f.verify_dir, "the export's output directory or s3://bucket/prefix")
      ->required();
  add_s3_profile(verify, f);
  verify->add_flag("--against-server", f.against_server,
                   "also recount every task's rows on the server");
  verify->add_flag("--deep", f.deep,
                   "read every S3 object back (SHA-256, zstd, rows), not only its size and ETag; "
                   "local files are always read");
  verify->add_flag("--content", f.content,
                   "with --against-server and --target: compare every column's content, hashed "
                   "by both servers, per imported partition");
  verify->add_option("--target", f.target,
                     "the server the export was imported into, for --content");
  verify->add_option("--target-user", f.target_user,
                     "the user on the --target server (default: the source's user and password)");
  verify->add_option("--target-password-file", f.target_password_file,
                     "read the --target server's password from this file");
  verify->add_option("--target-password-env", f.target_password_env,
                     "read the --target server's password from this environment variable "
                     "(default CLICKHOUSE_TARGET_PASSWORD)");
  verify->add_option("--target-database", f.target_database,
                     "the --database the import was given, for --content");
  verify->add_option("--journal", f.journal, "the --journal FILE the import was given");
  add_connection_flags(verify, f);
  auto* imp = app.add_subcommand(
      "import", "load an export into a ClickHouse server, exactly once, and check its counts");
  add_import_flags(imp, f);
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string message = e.what();
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && argc > 1 && argv[1][0] != '-')
      message = std::string("unknown command \"") + argv[1] + "\"";
    spdlog::error("{}{}", message, did_you_mean(app, message));
    return exit_code::usage;
  }

  try {
    auto level = spdlog::level::from_str(f.log_level);
    if (level == spdlog::level::off && f.log_level != "off") {
      throw_usage("--log-level: unknown level \"" + f.log_level + "\"");
    }
    bool exporting = exp->parsed();
    if ((exporting || imp->parsed()) && f.quiet) level = spdlog::level::err;
    spdlog::set_level(level);
    http_global_init();
    set_s3_options(S3Options{f.s3_profile, f.s3_addressing, f.s3_checksum != "none"});
    if (verify->parsed()) return run_verify(verify, f);
    if (imp->parsed()) {
      ImportOptions import_options = build_import_options(imp, f);
      install_signal_handlers();
      ImportResult result = run_import(import_options, &cancel_token);
      return finish_run(result.exit_code, result.summary,
                        "loaded partitions are kept, the others left the target as it was");
    }
    ExportOptions options = build_options(exporting ? exp : plan, f, exporting);
    set_s3_options(S3Options{options.output.s3_profile, options.output.s3_addressing,
                             options.output.s3_checksums});

    install_signal_handlers();
    if (!exporting) return run_plan(options, f.json);

    RunResult run = run_export(options, &cancel_token);
    return finish_run(run.exit_code, run.summary,
                      "finished tasks are kept, the others left no files");
  } catch (const Error& e) {
    if (cancel_token.requested.load()) return cancel_token.exit_code.load();
    spdlog::error("{}", e.what());
    if (f.progress == "json" && exp->parsed()) {
      // Scripts reading the events learn of a run that failed before it started, too.
      std::fprintf(stderr, "{\"event\":\"run_finished\",\"exit_code\":%d,\"error\":%s}\n",
                   exit_code_for(e.category()), json_escape(e.what()).c_str());
    }
    return exit_code_for(e.category());
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return exit_code::internal;
  }
}
