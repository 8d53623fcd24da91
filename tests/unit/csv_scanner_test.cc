// The scanner must find the same record boundaries however the stream is cut into chunks.
#include "chexport/pipeline/csv_scanner.h"

#include "chexport/clickhouse/clickhouse.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace chexport {
namespace {

// Reference: a byte-at-a-time state machine written independently of the block scanner.
std::vector<uint64_t> reference_ends(std::string_view s) {
  std::vector<uint64_t> ends;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"')
      quoted = !quoted;
    else if (s[i] == '\n' && !quoted)
      ends.push_back(i + 1);
  }
  return ends;
}

// Scans `s` in chunks whose sizes come from `cuts`, collecting the boundary offsets by asking the
// scanner for one record at a time.
std::vector<uint64_t> scan_in_chunks(std::string_view s, const std::vector<size_t>& cuts) {
  CsvScanner scanner;
  std::vector<uint64_t> ends;
  size_t pos = 0;
  size_t c = 0;
  while (pos < s.size()) {
    size_t len = c < cuts.size() ? std::min(cuts[c++], s.size() - pos) : s.size() - pos;
    std::string chunk(s.substr(pos, len));  // an owned copy: the scanner must not read past it
    std::string_view rest = chunk;
    while (!rest.empty()) {
      auto r = scanner.scan(rest, 1);
      rest.remove_prefix(r.consumed);
      if (r.records == 1) {
        EXPECT_TRUE(scanner.at_record_boundary());
        ends.push_back(scanner.last_record_end());
      }
    }
    pos += len;
  }
  EXPECT_EQ(scanner.records(), ends.size());
  EXPECT_EQ(scanner.bytes(), s.size());
  return ends;
}

std::string random_csv(std::mt19937& rng, size_t records) {
  const std::vector<std::string> fields = {"1",
                                           "-2.5",
                                           "\\N",
                                           "\"\\N\"",
                                           "\"\"",
                                           "\"a,b\"",
                                           "\"he said \"\"hi\"\"\"",
                                           "\"line\nbreak\"",
                                           "\"cr\r\nlf\"",
                                           "\"tab\there\"",
                                           "\"caf\xc3\xa9 \xe2\x98\x95\"",
                                           "\"Code: 1, not an error\"",
                                           "\"" + std::string(200, 'x') + "\"",
                                           "\"\"\"\"",
                                           "nan",
                                           "inf",
                                           "",
                                           "\"['x','y,z']\""};
  std::string out;
  for (size_t r = 0; r < records; ++r) {
    size_t n = 1 + rng() % 6;
    for (size_t f = 0; f < n; ++f) {
      if (f) out += ',';
      out += fields[rng() % fields.size()];
    }
    out += (rng() % 5 == 0) ? "\r\n" : "\n";
  }
  return out;
}

const std::vector<std::string>& samples() {
  static const std::vector<std::string> s = [] {
    std::vector<std::string> v = {
        "",
        "\n",
        "1,2\n3,4\n",
        "\"a\"\"b\",1\n",       // escaped quote
        "\"\"\"\"\n\"\"\n",     // a field that is one quote, then an empty string
        "\"x\ny\",\"\r\n\"\n",  // newlines inside quotes
        "1,2\r\n3,4\r\n",       // CRLF
        ",,\n,\n",              // empty fields
        "\\N,\"\\N\"\n",        // NULL and the string \N
        "\"Code: 395\"\nCode: 395, e.displayText() = DB::Exception: boom\n",
    };
    std::mt19937 rng(42);
    v.push_back(random_csv(rng, 300));
    return v;
  }();
  return s;
}

TEST(CsvScanner, WholeInputMatchesReference) {
  for (const std::string& s : samples()) {
    CsvScanner scanner;
    auto r = scanner.scan(s);
    EXPECT_EQ(r.consumed, s.size());
    EXPECT_EQ(r.records, reference_ends(s).size()) << s;
    EXPECT_TRUE(scanner.at_record_boundary()) << s;
  }
}

TEST(CsvScanner, OneByteAtATime) {
  for (const std::string& s : samples()) {
    EXPECT_EQ(scan_in_chunks(s, std::vector<size_t>(s.size(), 1)), reference_ends(s)) << s;
  }
}

TEST(CsvScanner, EveryTwoChunkCut) {
  for (const std::string& s : samples()) {
    if (s.size() > 400) continue;
    for (size_t cut = 0; cut <= s.size(); ++cut) {
      EXPECT_EQ(scan_in_chunks(s, {cut}), reference_ends(s)) << "cut at " << cut << " of " << s;
    }
  }
}

TEST(CsvScanner, RandomCuts) {
  std::mt19937 rng(7);
  std::string s = random_csv(rng, 5000);
  auto expected = reference_ends(s);
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> cuts;
    for (size_t total = 0; total < s.size();) {
      size_t len = rng() % 300;
      cuts.push_back(len);
      total += len == 0 ? 1 : len;
      if (len == 0) cuts.back() = 1;
    }
    ASSERT_EQ(scan_in_chunks(s, cuts), expected) << "round " << round;
  }
}

TEST(CsvScanner, CutBetweenTheTwoQuotesOfAnEscapedQuote) {
  std::string s = "\"a\"\"\nb\",2\n3\n";
  size_t cut = s.find("\"\"") + 1;
  EXPECT_EQ(scan_in_chunks(s, {cut}), reference_ends(s));
  EXPECT_EQ(reference_ends(s).size(), 2u);
}

TEST(CsvScanner, StopsExactlyAtTheRecordLimit) {
  std::string s;
  for (int i = 0; i < 200; ++i) s += "\"r" + std::to_string(i) + "\n\",x\n";
  CsvScanner scanner;
  auto r = scanner.scan(s, 150);
  EXPECT_EQ(r.records, 150u);
  EXPECT_TRUE(scanner.at_record_boundary());
  EXPECT_EQ(reference_ends(s)[149], r.consumed);
  auto rest = scanner.scan(std::string_view(s).substr(r.consumed));
  EXPECT_EQ(rest.records, 50u);
  EXPECT_EQ(scanner.records(), 200u);
}

TEST(CsvScanner, ReportsAnOpenQuoteAtTheEnd) {
  CsvScanner scanner;
  scanner.scan("1,\"unterminated\nstill inside");
  EXPECT_FALSE(scanner.at_record_boundary());
  EXPECT_TRUE(scanner.in_quotes());
  CsvScanner partial;
  partial.scan("1,2\n3,4");
  EXPECT_FALSE(partial.at_record_boundary());
  EXPECT_FALSE(partial.in_quotes());
}

TEST(CsvScanner, TracksTheLastTwoRecordEnds) {
  CsvScanner scanner;
  std::string s = std::string(100, 'a') + "\n" + "\"b\nb\"\n" + std::string(70, 'c') + "\n";
  scanner.scan(s);
  EXPECT_EQ(scanner.last_record_end(), s.size());
  EXPECT_EQ(scanner.previous_record_end(), 101u + 6u);
}

// Feeds `s` to a scanner and a tail in chunks of `chunk` bytes, then looks for an error.
std::optional<std::pair<std::string, uint64_t>> tail_error(const std::string& s, size_t chunk,
                                                           std::string_view tag = {}) {
  CsvScanner scanner;
  StreamTail tail;
  for (size_t pos = 0; pos < s.size(); pos += chunk) {
    std::string piece = s.substr(pos, chunk);
    scanner.scan(piece);
    tail.append(piece);
  }
  auto found = tail.find_server_error(scanner.in_quotes(), tag);
  if (!found) return std::nullopt;
  return std::make_pair(std::string(found->text), found->records_in_text);
}

std::string some_rows() {
  std::mt19937 rng(3);
  return random_csv(rng, 200);
}

TEST(StreamTail, FindsThe18_16ErrorLineUnderEveryChunking) {
  std::string error =
      "Code: 395, e.displayText() = DB::Exception: boom, e.what() = DB::Exception\n";
  for (size_t chunk : {1, 7, 100, 4096, 100000}) {
    auto found = tail_error(some_rows() + error, chunk);
    ASSERT_TRUE(found) << chunk;
    EXPECT_EQ(found->first, error);
    EXPECT_EQ(found->second, 1u);
  }
}

TEST(StreamTail, FindsAMultiLineMessage) {
  std::string error =
      "Code: 279, e.displayText() = DB::NetException: All connection tries failed. Log: \n\n"
      "Code: 210, e.displayText() = DB::NetException: Connection refused (127.0.0.2:9000)\n\n"
      ", e.what() = DB::NetException\n";
  auto found = tail_error(some_rows() + error, 64);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->first, error);
  EXPECT_EQ(found->second, 5u);
}

TEST(StreamTail, FindsAnErrorAfterALongPartialRow) {
  std::string error = "Code: 241. DB::Exception: Memory limit (total) exceeded\n";
  std::string s = some_rows() + "\"" + std::string(6000, 'x') + "\",12345" + error;
  auto found = tail_error(s, 1000);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->first, error);
}

TEST(StreamTail, FindsTheModernFramingAndItParses) {
  // 25.11+: the message is framed with the response's exception tag, and the connection aborts.
  std::string framed =
      "\r\n__exception__\r\nAbCdEfGh12345678\r\nCode: 395. DB::Exception: Value passed to "
      "'throwIf' "
      "function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 25.11.1.1)\n"
      "120 AbCdEfGh12345678\r\n__exception__\r\n";
  auto found = tail_error(some_rows() + "1,2" + framed, 50);
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->first.starts_with("__exception__")) << found->first;
  ServerError e = parse_server_error(found->first);
  EXPECT_EQ(e.code, 395);
  EXPECT_EQ(
      e.message,
      "Value passed to 'throwIf' function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)");
}

// 26.7's block, as it sends it (modern-clickhouse.md).
std::string tagged_block(const std::string& tag, const std::string& message) {
  std::string text = message + "\n";
  return "\r\n__exception__\r\n" + tag + "\r\n" + text + std::to_string(text.size()) + " " + tag +
         "\r\n__exception__\r\n";
}

const char* throw_if_message =
    "Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero. "
    "(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.7.2.1)";

TEST(StreamTail, TaggedBlockIsFoundWhereverTheQuotesStand) {
  const std::string tag = "rzbnodbdjrmudcfe";
  std::string block = tagged_block(tag, throw_if_message);
  // After whole rows; after a row cut inside a quoted field (the block is "in quotes" then, and
  // carries quotes of its own); after a row cut outside quotes.
  for (const std::string& before : {some_rows(), some_rows() + "17,\"half a fie",
                                    some_rows() + "17,\"a \"\"quoted\"\" field\",12"}) {
    for (size_t chunk : {1, 64, 100000}) {
      auto found = tail_error(before + block, chunk, tag);
      ASSERT_TRUE(found) << chunk;
      EXPECT_TRUE(found->first.starts_with(throw_if_message)) << found->first;
      ServerError e = parse_server_error(found->first);
      EXPECT_EQ(e.code, 395);
      EXPECT_EQ(e.message,
                "Value passed to 'throwIf' function is non-zero. "
                "(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)");
    }
  }
}

TEST(StreamTail, TaggedBlockCountsTheRecordsTheScannerSawInIt) {
  const std::string tag = "abcdefghijklmnop";
  std::string rows = some_rows();
  CsvScanner rows_only;
  rows_only.scan(rows);
  std::string s = rows + tagged_block(tag, throw_if_message);
  CsvScanner scanner;
  scanner.scan(s);
  auto found = tail_error(s, 333, tag);
  ASSERT_TRUE(found);
  EXPECT_EQ(scanner.records() - found->second, rows_only.records());
}

TEST(StreamTail, ABlockWithAnotherTagIsNotTheServersError) {
  // The data cannot forge the server's block: its tag is new for every query.
  std::string s = some_rows() + tagged_block("aaaaaaaaaaaaaaaa", throw_if_message);
  EXPECT_FALSE(tail_error(s, 100, "bbbbbbbbbbbbbbbb"));
  // Without a tag header (servers 25.1-25.10) the marker alone counts.
  EXPECT_TRUE(tail_error(s, 100));
}

TEST(StreamTail, KeepsAWholeSixteenKibMessage) {
  const std::string tag = "abcdefghijklmnop";
  std::string message = "Code: 6. DB::Exception: Cannot parse " + std::string(16 * 1024 - 40, 'x');
  auto found = tail_error(some_rows() + tagged_block(tag, message), 4096, tag);
  ASSERT_TRUE(found);
  EXPECT_EQ(parse_server_error(found->first).code, 6);
}

TEST(StreamTail, IgnoresLookAlikesInsideQuotes) {
  std::string s = some_rows() + "\"line1\nCode: 62, fake\n__exception__\n\",1\n\"Code: 1\"\n";
  for (size_t chunk : {1, 5, 4096}) EXPECT_FALSE(tail_error(s, chunk)) << chunk;
  EXPECT_FALSE(tail_error("Code: x\n1,2\n", 3));
}

TEST(StreamTail, KeepsOnlyTheLastBytes) {
  StreamTail tail;
  std::string s;
  for (int i = 0; i < 5000; ++i) s += std::to_string(i) + ",";
  for (size_t pos = 0; pos < s.size(); pos += 333)
    tail.append(std::string_view(s).substr(pos, 333));
  EXPECT_EQ(tail.bytes(), std::string_view(s).substr(s.size() - StreamTail::capacity));
}

}  // namespace
}  // namespace chexport
