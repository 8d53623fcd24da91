// Distributed tables over a real two-server cluster (cluster.h): one task per shard and
// partition, read through the one URL the user has, on 18.16 and 26.7.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <filesystem>
#include <map>

#include "checks.h"
#include "cluster.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

// dist.events on server A over two_shards: shard 1 holds 1000 rows in two monthly partitions
// (527 + 473), shard 2 2000 rows in three (702 + 638 + 660), on both of its replicas.
struct Events {
  TestCluster cluster;
  Events() {
    const std::string schema =
        "(d Date, n UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY n";
    cluster.create_local("shard1", "local", schema);
    cluster.create_local("shard2", "local", schema);
    cluster.insert_local("shard1",
                         "INSERT INTO shard1.local SELECT toDate('2020-01-01') + number % 60, "
                         "number, concat('a,\"b\"\n', toString(number)) FROM numbers(1000)");
    cluster.insert_local("shard2",
                         "INSERT INTO shard2.local SELECT toDate('2020-01-01') + number % 90, "
                         "number + 1000, toString(number) FROM numbers(2000)");
    cluster.a().query("CREATE DATABASE dist");
    cluster.a().query(
        "CREATE TABLE dist.events AS shard1.local ENGINE = Distributed(two_shards, '', local)");
  }
};

// The records of each task directory, from the files the manifest lists.
std::map<std::string, std::vector<std::string>> records_by_dir(const TempDir& out,
                                                               uint64_t total_rows) {
  std::map<std::string, std::string> text;
  for (const ExportedFile& f : check_manifest(out, total_rows))
    text[f.path.substr(0, f.path.rfind('/'))] += f.content;
  std::map<std::string, std::vector<std::string>> records;
  for (const auto& [dir, csv] : text) records[dir] = sorted_records(csv);
  return records;
}

std::vector<std::string> local_month(PrivateServer& server, const std::string& db, int month) {
  return sorted_records(server.query("SELECT * FROM " + db + ".local WHERE toYYYYMM(d) = " +
                                     std::to_string(month) + " FORMAT CSV"));
}

uint64_t queries_run(PrivateServer& server) {
  return std::stoull(server.query("SELECT value FROM system.events WHERE event = 'Query'"));
}

// What each shard's local table holds, by the task directory it belongs in.
std::map<std::string, std::vector<std::string>> expected_records(Events& e) {
  return {
      {"dist/events/shard=1/partition=202001/whole", local_month(e.cluster.a(), "shard1", 202001)},
      {"dist/events/shard=1/partition=202002/whole", local_month(e.cluster.a(), "shard1", 202002)},
      {"dist/events/shard=2/partition=202001/whole", local_month(e.cluster.b(), "shard2", 202001)},
      {"dist/events/shard=2/partition=202002/whole", local_month(e.cluster.b(), "shard2", 202002)},
      {"dist/events/shard=2/partition=202003/whole", local_month(e.cluster.b(), "shard2", 202003)}};
}

// Which server answered each task's export query (X-ClickHouse-Server-Display-Name).
std::map<std::string, std::string> answered_by(const TempDir& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element m = parser.load(out.str() + "/manifest.json");
  std::map<std::string, std::string> by_dir;
  for (simdjson::dom::element t : m["tasks"].get_array()) {
    by_dir[std::string(std::string_view(t["dir"]))] =
        std::string(std::string_view(t["server_response"]["display_name"]));
  }
  return by_dir;
}

TEST(Cluster, ExportsEachShardAndPartitionOfADistributedTable) {
  Events e;
  ASSERT_EQ(e.cluster.a().query("SELECT count() FROM dist.events"), "3000\n");
  TempDir out;
  auto r = run_chexport(
      {"export", "--url", e.cluster.a().url(), "-t", "dist.events", "--out", out.str()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("dist.events: shard 2 (2 replicas): 3 task(s), 2000 rows"),
            std::string::npos)
      << r.output;
  auto records = records_by_dir(out, 3000);
  auto expected = expected_records(e);
  EXPECT_EQ(expected.at("dist/events/shard=1/partition=202001/whole").size(), 527u);
  EXPECT_EQ(expected.at("dist/events/shard=2/partition=202003/whole").size(), 660u);
  EXPECT_EQ(records, expected);

  auto verified =
      run_chexport({"verify", out.str(), "--against-server", "--url", e.cluster.a().url()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("counts match the server"), std::string::npos) << verified.output;
  // A row more on shard 2 (both replicas): verify counts that shard's partition, not the table.
  e.cluster.insert_local("shard2", "INSERT INTO shard2.local VALUES ('2020-02-03', 9, 'x')");
  verified = run_chexport({"verify", out.str(), "--against-server", "--url", e.cluster.a().url()});
  EXPECT_EQ(verified.exit_code, 4) << verified.output;
  EXPECT_NE(
      verified.output.find("task dist/events/shard=2/partition=202002/whole has 638 rows exported, "
                           "count() now says 639"),
      std::string::npos)
      << verified.output;
  EXPECT_EQ(count_of(verified.output, "changed on the server"), 1u) << verified.output;
}

// Shard 2's first replica (B) stops after the first task: its tasks go on through A, and every
// row arrives once. in_order and prefer_localhost_replica=0 make B the replica asked first.
TEST(Cluster, AReplicaStoppedMidExport) {
  Events e;
  TempDir out;
  uint64_t before = queries_run(e.cluster.b());
  BackgroundProcess run({chexport_binary(), "export", "--url", e.cluster.a().url(), "-t",
                         "dist.events", "--out", out.str(), "-j", "1", "--progress", "json",
                         "--setting", "load_balancing=in_order", "--setting",
                         "prefer_localhost_replica=0"});
  ASSERT_TRUE(run.wait_for("\"event\":\"task_finished\"")) << run.output();
  run.signal(SIGSTOP);
  // Planning read shard 2 through B (its parts, counts): the replica served until now.
  EXPECT_GT(queries_run(e.cluster.b()), before + 2);
  e.cluster.b().stop();
  run.signal(SIGCONT);
  ASSERT_EQ(run.wait(), 0) << run.output();
  auto records = records_by_dir(out, 3000);
  EXPECT_EQ(records.at("dist/events/shard=2/partition=202003/whole"),
            local_month(e.cluster.a(), "shard2", 202003));
  EXPECT_EQ(records.size(), 5u);
}

// --shard-url: each shard's tasks go straight to its replicas (shard 2's three tasks start at B,
// A, B in turn), and to the other replica while one is down.
TEST(Cluster, ShardUrlReadsStraightFromTheReplicas) {
  Events e;
  TempDir out;
  std::vector<std::string> args{"export",  "--url",       e.cluster.a().url(),
                                "-t",      "dist.events", "--out",
                                out.str(), "--shard-url", e.cluster.shard_url_template()};
  auto r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(records_by_dir(out, 3000), expected_records(e));
  std::string a = e.cluster.a().display_name(), b = e.cluster.b().display_name();
  std::map<std::string, std::string> served{{"dist/events/shard=1/partition=202001/whole", a},
                                            {"dist/events/shard=1/partition=202002/whole", a},
                                            {"dist/events/shard=2/partition=202001/whole", b},
                                            {"dist/events/shard=2/partition=202002/whole", a},
                                            {"dist/events/shard=2/partition=202003/whole", b}};
  EXPECT_EQ(answered_by(out), served);

  e.cluster.b().stop();
  args.push_back("--fresh");
  r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_of(r.output, "trying the shard's next replica"), 2u) << r.output;
  EXPECT_EQ(records_by_dir(out, 3000).at("dist/events/shard=2/partition=202003/whole"),
            local_month(e.cluster.a(), "shard2", 202003));
  for (const auto& [dir, server] : answered_by(out)) EXPECT_EQ(server, a) << dir;

  // Two hosts sharing the export of the Distributed table, each shard from its replicas.
  TempDir shared;
  for (const char* k : {"1/2", "2/2"}) {
    auto w = run_chexport({"export", "--url", e.cluster.a().url(), "-t", "dist.events", "--out",
                           shared.str(), "--shard-url", e.cluster.shard_url_template(), "--worker",
                           k, "-q"});
    ASSERT_EQ(w.exit_code, 0) << w.output;
  }
  auto joined =
      run_chexport({"verify", shared.str(), "--against-server", "--url", e.cluster.a().url()});
  EXPECT_EQ(joined.exit_code, 0) << joined.output;
  EXPECT_NE(joined.output.find("OK: 5 file(s), 3000 rows"), std::string::npos) << joined.output;

  auto bad = run_chexport({"export", "--url", e.cluster.a().url(), "-t", "dist.events", "--out",
                           out.str(), "--shard-url", "http://127.0.0.1:8123"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--shard-url \"http://127.0.0.1:8123\" has no {host}"),
            std::string::npos)
      << bad.output;
}

// A readonly=1 user may not read the shards through remote() (nor send load_balancing): one
// line that says so and how to get on, exit 6, nothing written.
TEST(Cluster, AReadonlyUserIsToldWhyTheShardsCannotBeRead) {
  Events e;
  TempDir out;
  auto r = run_chexport({"export", "--url", e.cluster.a().url(), "--user", "reader", "-t",
                         "dist.events", "--out", out.str()});
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("chexport: error: dist.events is a Distributed table, whose shards "
                          "chexport reads through remote(), which a readonly=1 user may not run ("),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("export as a user with readonly=2 or 0"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out.path() / "dist"));
}

// remote() reads one database on all of a shard's replicas: where the replicas name different
// ones, or none, which table is meant is not known, and the export stops before it starts.
TEST(Cluster, AShardWhoseDatabaseIsUnclearIsRefused) {
  Events e;
  TempDir out;
  struct Case {
    const char* cluster;
    std::string message;
  } cases[] = {
      {"two_databases",
       "dist.unclear: the replicas of shard 1 of cluster two_databases keep its table in "
       "different databases (shard1, shard2)"},
      {"no_database", "dist.unclear names no database, and replica " + e.cluster.a().host() +
                          " of cluster no_database has no <default_database>"},
  };
  for (const Case& c : cases) {
    e.cluster.a().query("DROP TABLE IF EXISTS dist.unclear");
    e.cluster.a().query("CREATE TABLE dist.unclear AS shard1.local ENGINE = Distributed(" +
                        std::string(c.cluster) + ", '', local)");
    auto r = run_chexport(
        {"export", "--url", e.cluster.a().url(), "-t", "dist.unclear", "--out", out.str()});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out.path() / "dist")) << c.cluster;
  }
}

// The password goes into remote()'s arguments: it never shows in messages, logs or the manifest,
// also where the server quotes the whole query in an error (26.7 does).
TEST(Cluster, ThePasswordInRemoteNeverShows) {
  Events e;
  TempDir out;
  std::map<std::string, std::string> env{{"CLICKHOUSE_PASSWORD", "exporter-secret"}};
  std::vector<std::string> args{
      "export",      "--url", e.cluster.a().url(), "--user",      "exporter", "-t",
      "dist.events", "--out", out.str(),           "--log-level", "debug"};
  std::vector<std::string> bad = args;
  bad.insert(bad.end(), {"--lower-condition", "no_such_column > 0"});
  auto failed = run_chexport(bad, env);
  EXPECT_EQ(failed.exit_code, 3) << failed.output;
  EXPECT_NE(failed.output.find("no_such_column"), std::string::npos) << failed.output;
  EXPECT_EQ(failed.output.find("exporter-secret"), std::string::npos) << failed.output;
  if (test_server().modern()) {
    // 26.7 quotes the query "in scope SELECT ... remote(...)", and masks the password itself.
    EXPECT_NE(failed.output.find("'exporter', '[HIDDEN]'"), std::string::npos) << failed.output;
  }
  auto ok = run_chexport(args, env);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output.find("exporter-secret"), std::string::npos);
  // The export queries in the debug log.
  EXPECT_NE(ok.output.find("'exporter', '[hidden]')"), std::string::npos) << ok.output;
  EXPECT_EQ(read_file(out.path() / "manifest.json").find("exporter-secret"), std::string::npos);
  EXPECT_EQ(check_manifest(out, 3000).size(), 5u);
}

}  // namespace
}  // namespace chexport::testing
