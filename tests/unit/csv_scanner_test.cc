// The scanner must find the same record boundaries however the stream is cut into chunks.
#include "chexport/csv_scanner.h"

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

TEST(FindServerError, FindsErrorsOutsideQuotesOnly) {
  EXPECT_EQ(find_server_error("Code: 395, e.displayText() = DB::Exception: boom\n"),
            "Code: 395, e.displayText() = DB::Exception: boom");
  EXPECT_EQ(find_server_error("12,34Code: 241. DB::Exception: Memory limit\n"),
            "Code: 241. DB::Exception: Memory limit");
  EXPECT_EQ(find_server_error("__exception__\r\nCode: 1. DB::Exception: x\n"),
            "__exception__\r\nCode: 1. DB::Exception: x");
  EXPECT_TRUE(find_server_error("\"Code: 395, looks like an error\",1\n").empty());
  EXPECT_TRUE(find_server_error("\"__exception__\"\n").empty());
  EXPECT_TRUE(find_server_error("Code: x\n").empty());
  EXPECT_TRUE(find_server_error("1,2,3\n").empty());
}

TEST(LastRecordTracker, SeesTheLastRecordUnderEveryChunking) {
  std::mt19937 rng(3);
  std::string body = random_csv(rng, 50);
  std::string tail = "Code: 395, e.displayText() = DB::Exception: boom\n";
  std::string s = body + tail;
  for (size_t chunk = 1; chunk < 200; chunk += 7) {
    CsvScanner scanner;
    LastRecordTracker tracker;
    for (size_t pos = 0; pos < s.size(); pos += chunk) {
      std::string piece = s.substr(pos, chunk);
      uint64_t start = scanner.bytes();
      scanner.scan(piece);
      tracker.after_scan(piece, start, scanner);
    }
    EXPECT_EQ(tracker.last_record(), tail) << "chunk " << chunk;
    EXPECT_TRUE(tracker.open_record().empty());
  }
}

TEST(LastRecordTracker, KeepsTheOpenRecordOfATruncatedStream) {
  CsvScanner scanner;
  LastRecordTracker tracker;
  std::string s = "1,2\n__exception__\r\nABCDEFGH12345678\r\nCode: 1. DB::Exception: x";
  for (size_t pos = 0; pos < s.size(); pos += 5) {
    std::string piece = s.substr(pos, 5);
    uint64_t start = scanner.bytes();
    scanner.scan(piece);
    tracker.after_scan(piece, start, scanner);
  }
  EXPECT_EQ(tracker.last_record(), "ABCDEFGH12345678\r\n");
  EXPECT_EQ(tracker.open_record(), "Code: 1. DB::Exception: x");
}

}  // namespace
}  // namespace chexport
