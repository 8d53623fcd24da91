// The command line: fills ExportOptions from flags and the environment, and calls the engine.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "chexport/error.h"
#include "chexport/exporter.h"
#include "chexport/units.h"
#include "chexport/version.h"

namespace {

using namespace chexport;

CancelToken cancel_token;

extern "C" void on_signal(int sig) {
  // A second signal leaves at once: files are still under temp names, nothing is half-final.
  if (cancel_token.requested.load()) _exit(128 + sig);
  cancel_token.exit_code.store(128 + sig);
  cancel_token.requested.store(true);
}

const char* exit_codes_text =
    "Exit codes:\n"
    "  0    every task exported and validated\n"
    "  1    internal error\n"
    "  2    usage or configuration error (bad flag, bad value, output already exists)\n"
    "  3    export failed (query error, unknown table, truncated or failed stream, local I/O)\n"
    "  4    validation failed (row counts disagree)\n"
    "  5    cannot connect to the server (refused, unreachable, timed out)\n"
    "  6    authentication or authorization refused\n"
    "  130  interrupted (SIGINT), 143 terminated (SIGTERM)\n"
    "\n"
    "Environment: CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD (the password is read only\n"
    "from CLICKHOUSE_PASSWORD or --password-file, and never logged).\n";

std::string read_password_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_usage("--password-file: cannot read " + path);
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

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_mt("chexport");
  logger->set_pattern("chexport: %l: %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"chexport " CHEXPORT_VERSION
               " - export ClickHouse tables over HTTP into validated, rotating zstd CSV files"};
  app.footer(exit_codes_text);
  app.set_version_flag("--version", "chexport " CHEXPORT_VERSION);
  app.require_subcommand(1);

  ExportOptions options;
  std::vector<std::string> tables;
  std::vector<std::string> settings;
  std::string password_file, log_level = "info", compression = "zstd";
  std::string max_bytes, max_compressed_bytes;
  double connect_timeout = 10;

  auto* exp = app.add_subcommand("export", "export tables, one validated task per partition");
  exp->add_option("--url", options.connection.url, "ClickHouse HTTP(S) URL")
      ->envname("CLICKHOUSE_URL")
      ->capture_default_str();
  exp->add_option("--user", options.connection.user,
                  "user name (default: the server's default user)")
      ->envname("CLICKHOUSE_USER");
  exp->add_option("--password-file", password_file,
                  "read the password from this file (else from CLICKHOUSE_PASSWORD)");
  exp->add_option("--table,-t", tables, "table to export, db.table (repeatable)")->required();
  exp->add_option("--out,-o", options.output.dir, "output directory")->required();
  exp->add_option("--format", options.output.format, "CSV or CSVWithNames")->capture_default_str();
  exp->add_option("--compression", compression, "zstd or none")->capture_default_str();
  exp->add_option("--zstd-level", options.output.zstd_level,
                  "zstd level (1-22; negative levels are faster)")
      ->capture_default_str();
  exp->add_option("--max-rows-per-file", options.output.limits.max_rows,
                  "start a new file after this many rows (0: no limit)")
      ->capture_default_str();
  exp->add_option("--max-bytes-per-file", max_bytes,
                  "start a new file after this much CSV (e.g. 1GiB; 0: no limit)");
  exp->add_option("--max-compressed-bytes-per-file", max_compressed_bytes,
                  "start a new file after about this much compressed output (0: no limit)");
  exp->add_option("--setting", settings,
                  "key=value ClickHouse setting for every query (repeatable)");
  exp->add_option("--connect-timeout", connect_timeout, "seconds to wait for a connection")
      ->capture_default_str();
  exp->add_option("--speed-limit", options.connection.speed_limit,
                  "abort a transfer slower than this many bytes/s ...")
      ->capture_default_str();
  exp->add_option("--speed-time", options.connection.speed_time, "... for this many seconds")
      ->capture_default_str();
  exp->add_option("--cacert", options.connection.cacert, "CA certificate bundle for https");
  exp->add_flag("--insecure,-k", options.connection.insecure,
                "do not verify the server's TLS certificate");
  exp->add_flag("--fresh", options.output.fresh,
                "replace an earlier export in the output directory");
  // Accepted before and after the subcommand.
  for (CLI::App* scope : {&app, exp}) {
    scope->add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
        ->capture_default_str();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : exit_code::usage;
  }

  try {
    auto level = spdlog::level::from_str(log_level);
    if (level == spdlog::level::off && log_level != "off")
      throw_usage("--log-level: unknown level \"" + log_level + "\"");
    spdlog::set_level(level);

    check_url(options.connection.url);
    for (const std::string& t : tables) options.tables.push_back(parse_table_ref(t));
    for (const std::string& s : settings) {
      auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0)
        throw_usage("--setting must be key=value, got \"" + s + "\"");
      std::string key = s.substr(0, eq);
      // Credentials never travel as URL parameters; query and session ids are chexport's own.
      for (const char* reserved : {"user", "password", "quota_key", "query_id", "session_id"}) {
        if (key == reserved) {
          throw_usage("--setting " + key + " is not allowed: " +
                      (key == "user" || key == "password"
                           ? std::string("use --user and CLICKHOUSE_PASSWORD or --password-file")
                           : std::string("chexport sets it itself")));
        }
      }
      options.connection.settings.emplace_back(std::move(key), s.substr(eq + 1));
    }
    if (!password_file.empty()) {
      options.connection.password = read_password_file(password_file);
    } else if (const char* p = std::getenv("CLICKHOUSE_PASSWORD")) {
      options.connection.password = p;
    }
    if (compression == "zstd")
      options.output.compression = Compression::zstd;
    else if (compression == "none")
      options.output.compression = Compression::none;
    else
      throw_usage("--compression must be zstd or none, not \"" + compression + "\"");
    if (!max_bytes.empty())
      options.output.limits.max_csv_bytes = parse_size(max_bytes, "--max-bytes-per-file");
    if (!max_compressed_bytes.empty()) {
      options.output.limits.max_compressed_bytes =
          parse_size(max_compressed_bytes, "--max-compressed-bytes-per-file");
    }
    options.connection.connect_timeout_ms = static_cast<long>(connect_timeout * 1000);

    http_global_init();
    std::signal(SIGPIPE, SIG_IGN);  // a closed stderr pipe must not kill a run mid-commit
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    RunResult run = run_export(options, &cancel_token);
    if (cancel_token.requested.load()) {
      spdlog::error("interrupted; finished tasks are kept, the others left no files");
      return cancel_token.exit_code.load();
    }
    if (run.exit_code == 0) {
      spdlog::info("{}", run.summary);
    } else {
      spdlog::error("{}", run.summary);
    }
    return run.exit_code;
  } catch (const Error& e) {
    if (cancel_token.requested.load()) return cancel_token.exit_code.load();
    spdlog::error("{}", e.what());
    return exit_code_for(e.category());
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return exit_code::internal;
  }
}
