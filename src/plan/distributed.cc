#include "chexport/plan/distributed.h"

#include <map>

#include "chexport/common/error.h"
#include "chexport/common/secrets.h"

namespace chexport {

std::string ShardSource::remote(std::string_view args) const {
  std::string addresses;
  for (const std::string& r : replicas) addresses += (addresses.empty() ? "" : "|") + r;
  return "remote(" + quote_string(addresses) + ", " + std::string(args) + credentials + ")";
}

std::string TableRef::sql() const {
  if (shard)
    return shard->remote(quote_string(shard->local_db) + ", " + quote_string(shard->local_table));
  return quote_identifier(db) + "." + quote_identifier(table);
}

std::string TableRef::system_table(std::string_view name) const {
  if (shard) return shard->remote("system." + std::string(name));
  return "system." + std::string(name);
}

namespace {

// The top-level comma-separated arguments inside the first parentheses, outer quotes removed.
std::vector<std::string> engine_arguments(std::string_view text) {
  std::vector<std::string> args;
  size_t open = text.find('(');
  if (open == std::string_view::npos) return args;
  std::string current;
  char quote = 0;
  int depth = 0;
  for (size_t i = open + 1; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == '\\' && i + 1 < text.size()) {
        current += text[++i];
        continue;
      }
      if (c == quote)
        quote = 0;
      else
        current += c;
      continue;
    }
    if (c == '\'' || c == '`' || c == '"') {
      quote = c;
    } else if (c == '(') {
      ++depth;
      current += c;
    } else if (c == ')' && depth == 0) {
      args.push_back(current);
      break;
    } else if (c == ')') {
      --depth;
      current += c;
    } else if (c == ',' && depth == 0) {
      args.push_back(current);
      current.clear();
    } else if (c != ' ' || !current.empty()) {
      current += c;
    }
  }
  for (std::string& a : args) {
    while (!a.empty() && a.back() == ' ') a.pop_back();
  }
  return args;
}

}  // namespace

std::optional<DistributedEngine> parse_distributed_engine(std::string_view engine_full) {
  if (!engine_full.starts_with("Distributed(")) return std::nullopt;
  std::vector<std::string> args = engine_arguments(engine_full);
  if (args.size() < 3) {
    throw_usage("cannot read the engine " + std::string(engine_full) +
                ": expected Distributed(cluster, database, table, ...)");
  }
  return DistributedEngine{args[0], args[1], args[2]};
}

std::string remote_credentials(const ConnectionOptions& connection) {
  std::string user = connection.user.empty() ? "default" : connection.user;
  if (user == "default" && connection.password.empty()) return "";
  std::string password = quote_string(connection.password);
  if (!connection.password.empty()) register_sql_secret(password);
  return ", " + quote_string(user) + ", " + password;
}

std::string native_address(const std::string& host, const std::string& port) {
  bool ipv6 = host.find(':') != std::string::npos && !host.starts_with("[");
  return (ipv6 ? "[" + host + "]" : host) + ":" + port;
}

std::vector<std::shared_ptr<const ShardSource>> read_shards(ClickHouseClient& client,
                                                            const DistributedEngine& engine,
                                                            const TableRef& dist) {
  auto rows = client.query_rows(
      "SELECT toString(shard_num), host_name, toString(port), default_database "
      "FROM system.clusters WHERE cluster = " +
          quote_string(engine.cluster) + " ORDER BY shard_num, replica_num",
      "reading the shards of cluster " + engine.cluster + " (of " + dist.display() + ")");
  if (rows.empty()) {
    throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                dist.display() + " is a Distributed table over cluster " + engine.cluster +
                    ", which system.clusters of this server does not list");
  }
  std::string credentials = remote_credentials(client.options());
  std::map<uint32_t, ShardSource> by_num;
  for (const auto& row : rows) {
    uint32_t num = static_cast<uint32_t>(std::stoul(row.at(0)));
    ShardSource& s = by_num[num];
    s.num = num;
    s.cluster = engine.cluster;
    s.replicas.push_back(native_address(row.at(1), row.at(2)));
    s.hosts.push_back(row.at(1));
    std::string db = engine.db.empty() ? row.at(3) : engine.db;
    // remote() takes one database for all replicas; a guess could read another table.
    if (db.empty()) {
      throw_usage(dist.display() + " names no database, and replica " + row.at(1) + " of cluster " +
                  engine.cluster +
                  " has no <default_database>: which database its table is in is not known");
    }
    if (!s.local_db.empty() && s.local_db != db) {
      throw_usage(dist.display() + ": the replicas of shard " + row.at(0) + " of cluster " +
                  engine.cluster + " keep its table in different databases (" + s.local_db + ", " +
                  db + "), which remote() cannot read as one");
    }
    s.local_db = db;
    s.local_table = engine.table;
    s.credentials = credentials;
  }
  std::vector<std::shared_ptr<const ShardSource>> shards;
  for (auto& [num, s] : by_num) shards.push_back(std::make_shared<const ShardSource>(std::move(s)));
  return shards;
}

}  // namespace chexport
