// Distributed engines, --worker shares and --shard-url templates, without a server.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "chexport/common/error.h"
#include "chexport/plan/distributed.h"
#include "chexport/run/exporter.h"
#include "chexport/run/worker_share.h"

namespace chexport {
namespace {

TEST(Distributed, EngineArgumentsAsBothVersionsWriteThem) {
  auto old = parse_distributed_engine("Distributed(c, d, local, rand())");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->cluster, "c");
  EXPECT_EQ(old->db, "d");
  EXPECT_EQ(old->table, "local");
  auto modern =
      parse_distributed_engine("Distributed('two_shards', '', 'lo,cal', cityHash64(a, b))");
  ASSERT_TRUE(modern);
  EXPECT_EQ(modern->cluster, "two_shards");
  EXPECT_EQ(modern->db, "");
  EXPECT_EQ(modern->table, "lo,cal");
  EXPECT_FALSE(parse_distributed_engine("MergeTree ORDER BY x"));
  EXPECT_THROW(parse_distributed_engine("Distributed(c)"), Error);
}

TEST(Distributed, RemoteKeepsCredentialsOnlyForOtherUsers) {
  ConnectionOptions c;
  EXPECT_EQ(remote_credentials(c), "");
  c.user = "exporter";
  c.password = "it's";
  EXPECT_EQ(remote_credentials(c), ", 'exporter', 'it\\'s'");
  ShardSource s;
  s.replicas = {"h1:9000", native_address("::1", "9000")};
  s.local_db = "d";
  s.local_table = "t";
  TableRef ref{"dist", "t", std::make_shared<ShardSource>(s)};
  EXPECT_EQ(ref.sql(), "remote('h1:9000|[::1]:9000', 'd', 't')");
  EXPECT_EQ(ref.system_table("parts"), "remote('h1:9000|[::1]:9000', system.parts)");
  EXPECT_EQ(ref.stored_table(), "t");
}

TEST(Workers, Parse) {
  auto share = parse_worker_share("2/3", nullptr);
  EXPECT_EQ(share.index, 2u);
  EXPECT_EQ(share.count, 3u);
  EXPECT_EQ(share.manifest_name(), "manifest.worker-2-of-3.json");
  EXPECT_EQ(share.lock_name(), ".chexport.worker-2-of-3.lock");
  EXPECT_EQ(parse_worker_share("auto/4", "3").index, 4u);
  for (const char* bad : {"3", "0/2", "3/2", "a/2", "1/0", "1/", "/2", "1/2x"})
    EXPECT_THROW(parse_worker_share(bad, nullptr), Error) << bad;
  EXPECT_THROW(parse_worker_share("auto/2", nullptr), Error);
  EXPECT_THROW(parse_worker_share("auto/2", "2"), Error);
  EXPECT_THROW(parse_worker_share("auto/2", "-1"), Error);
  auto part = parse_manifest_part_name("manifest.worker-2-of-3.json");
  ASSERT_TRUE(part);
  EXPECT_EQ(part->index, 2u);
  EXPECT_FALSE(parse_manifest_part_name("manifest.json"));
  EXPECT_FALSE(parse_manifest_part_name("manifest.worker-4-of-3.json"));
  EXPECT_EQ(WorkerShare{}.manifest_name(), "manifest.json");
}

TEST(Workers, SharesAreDisjointBalancedAndIndependentOfOrder) {
  std::vector<std::pair<std::string, uint64_t>> tasks;
  for (int i = 0; i < 40; ++i) tasks.emplace_back("t/p" + std::to_string(i), 100 + i * 37 % 500);
  auto owner = assign_tasks(tasks, 3);
  std::vector<uint64_t> load(3, 0);
  for (size_t i = 0; i < tasks.size(); ++i) load.at(owner[i]) += tasks[i].second;
  uint64_t total = std::accumulate(load.begin(), load.end(), uint64_t{0});
  for (uint64_t l : load) {
    EXPECT_GT(l, total / 3 - 600);  // within the largest task of the ideal third
    EXPECT_LT(l, total / 3 + 600);
  }
  // The same tasks listed in another order get the same workers, and the same digest.
  auto reversed = tasks;
  std::reverse(reversed.begin(), reversed.end());
  auto owner_reversed = assign_tasks(reversed, 3);
  for (size_t i = 0; i < tasks.size(); ++i)
    EXPECT_EQ(owner[i], owner_reversed[tasks.size() - 1 - i]);
  std::map<std::string, std::string> csv{{"format", "CSV"}}, named{{"format", "CSVWithNames"}};
  EXPECT_EQ(plan_digest(tasks, csv), plan_digest(reversed, csv));
  // Parts written with other options do not join either.
  EXPECT_NE(plan_digest(tasks, csv), plan_digest(tasks, named));
  tasks[0].second += 1;
  EXPECT_NE(plan_digest(tasks, csv), plan_digest(reversed, csv));
}

TEST(ShardUrl, Template) {
  EXPECT_EQ(shard_replica_url("https://{host}:8443/ch", "node-1", 2), "https://node-1:8443/ch");
  EXPECT_EQ(shard_replica_url("http://{host}:8123/?shard={shard}", "::1", 2),
            "http://[::1]:8123/?shard=2");
  EXPECT_THROW(shard_replica_url("http://x:8123", "h", 1), Error);
  // A template that brackets {host} itself gets no second pair; every {host} and {shard} is set.
  EXPECT_EQ(shard_replica_url("https://[{host}]:8443/{shard}/{shard}", "fd00::1", 3),
            "https://[fd00::1]:8443/3/3");
  // Credentials in the template would show in every message naming a replica's URL.
  for (const char* bad : {"https://u:p@{host}:8443", "https://{host}:8443/?password=x",
                          "{host}:8123", "ftp://{host}"}) {
    EXPECT_THROW(shard_replica_url(bad, "h", 1), Error) << bad;
  }
}

}  // namespace
}  // namespace chexport

namespace chexport {
namespace {

TEST(Secrets, RegisteredLiteralsAreHiddenInErrors) {
  ConnectionOptions c;
  c.user = "u";
  c.password = "pa'ss-unit-test";
  std::string credentials = remote_credentials(c);
  std::string sql = "SELECT 1 FROM remote('h:9000', 'd', 't'" + credentials + ")";
  Error e(ErrorKind::permanent, ErrorCategory::export_failed, "in scope " + sql);
  EXPECT_EQ(std::string(e.what()),
            "in scope SELECT 1 FROM remote('h:9000', 'd', 't', 'u', '[hidden]')");
  EXPECT_EQ(scrub_secrets("no secret here"), "no secret here");
  // A user without a password registers no '' that every empty string literal would match.
  ConnectionOptions empty;
  empty.user = "reader";
  EXPECT_EQ(remote_credentials(empty), ", 'reader', ''");
  EXPECT_EQ(scrub_secrets("x = ''"), "x = ''");
}

}  // namespace
}  // namespace chexport
