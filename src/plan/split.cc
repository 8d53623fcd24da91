// Cutting an oversized task into ranges of a time or integer column.
//
// The column is mapped to an integer key in SQL (seconds since the epoch for DateTime and
// DateTime64, days for Date, the value for integers), so that no time arithmetic happens here:
// boundaries are key values, compared on the server as toDateTime(k), toDate('1970-01-01') + k
// or k, and shown in the column's own time zone by the server. The distribution comes from
// GROUP BY histograms over the key; a bucket that alone exceeds the limit is histogrammed again,
// finer, down to a single key value. Buckets are then packed greedily, in key order, into ranges
// of at most the limit. Ranges are half-open, the first unbounded below (and holding the NULLs),
// the last unbounded above, so every row belongs to exactly one range whatever arrives later.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "chexport/output/layout.h"
#include "chexport/plan/plan.h"

namespace chexport {
namespace {

struct KeyKind {
  std::string key;      // SQL: the integer key of the column
  std::string literal;  // SQL with "{}" for a key value: the column's value at that key
  std::string display;  // SQL over `x`: text of the column's value at key x
};

std::string strip_nullable(const std::string& type) {
  if (type.starts_with("Nullable(") && type.ends_with(")")) return type.substr(9, type.size() - 10);
  return type;
}

// The time zone argument of DateTime('tz') / DateTime64(p, 'tz'), with its quotes, or "".
std::string time_zone_of(const std::string& type) {
  auto q = type.find('\'');
  if (q == std::string::npos) return "";
  auto end = type.rfind('\'');
  return type.substr(q, end - q + 1);
}

KeyKind key_kind(const std::string& column, const std::string& type_with_null) {
  std::string type = strip_nullable(type_with_null);
  std::string f = quote_identifier(column);
  if (type.starts_with("DateTime")) {  // DateTime, DateTime('tz'), DateTime64(p[, 'tz'])
    std::string tz = time_zone_of(type);
    return {"toUInt32(" + f + ")", "toDateTime({})",
            "toString(toDateTime(x" + (tz.empty() ? "" : ", " + tz) + "))"};
  }
  if (type == "Date")
    return {"toUInt16(" + f + ")", "(toDate('1970-01-01') + {})",
            "toString(toDate('1970-01-01') + x)"};
  for (const char* t : {"UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64"}) {
    if (type == t) return {"toInt64(" + f + ")", "{}", "toString(x)"};
  }
  throw_usage("split_field " + column + " has type " + type_with_null +
              "; it must be Date, DateTime, DateTime64 or an integer");
}

std::string fill(const std::string& pattern, int64_t value) {
  std::string out = pattern;
  out.replace(out.find("{}"), 2, std::to_string(value));
  return out;
}

int64_t to_i64(const std::string& s) {
  return std::stoll(s);
}
uint64_t to_u64(const std::string& s) {
  return std::stoull(s);
}

struct Bucket {
  int64_t lo;  // key range, inclusive
  int64_t hi;
  uint64_t rows;
};

class Histogrammer {
 public:
  Histogrammer(ClickHouseClient& client, std::string from_where, std::string key, uint64_t limit,
               std::string what)
      : client_(client),
        from_where_(std::move(from_where)),
        key_(std::move(key)),
        limit_(limit),
        what_(std::move(what)) {}

  // Appends the buckets of [lo, hi] to `out`, in key order, each either at most the limit or a
  // single key value.
  void run(int64_t lo, int64_t hi, uint64_t rows, std::vector<Bucket>& out) {
    uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    uint64_t wanted = std::clamp<uint64_t>((rows / limit_ + 1) * 16, 16, 4096);
    uint64_t width = std::max<uint64_t>(1, (span + wanted - 1) / wanted);
    std::string sql = "SELECT toString(intDiv(" + key_ + " - (" + std::to_string(lo) + "), " +
                      std::to_string(width) + ")) AS b, toString(count()) " + from_where_ +
                      " AND " + key_ + " >= " + std::to_string(lo) + " AND " + key_ +
                      " <= " + std::to_string(hi) + " GROUP BY b";
    auto rows_by_bucket = client_.query_rows(sql, what_);
    std::vector<Bucket> buckets;
    for (const auto& r : rows_by_bucket) {
      int64_t start = lo + to_i64(r.at(0)) * static_cast<int64_t>(width);
      int64_t end = std::min<int64_t>(hi, start + static_cast<int64_t>(width) - 1);
      buckets.push_back({start, end, to_u64(r.at(1))});
    }
    std::sort(buckets.begin(), buckets.end(),
              [](const Bucket& a, const Bucket& b) { return a.lo < b.lo; });
    for (const Bucket& b : buckets) {
      if (b.rows > limit_ && b.hi > b.lo) {
        run(b.lo, b.hi, b.rows, out);
      } else {
        out.push_back(b);
      }
    }
  }

 private:
  ClickHouseClient& client_;
  std::string from_where_;
  std::string key_;
  uint64_t limit_;
  std::string what_;
};

}  // namespace

void check_split_field_type(const std::string& column, const std::string& type) {
  key_kind(column, type);
}

std::vector<Task> split_task(ClickHouseClient& client, const TableSpec& spec, const Task& task,
                             const std::string& field_type, uint64_t row_limit) {
  KeyKind kind = key_kind(spec.split_field, field_type);
  std::string f = quote_identifier(spec.split_field);
  bool nullable = field_type.starts_with("Nullable(");
  std::string what =
      "splitting " + task.table.display() + " " + task.partition + " by " + spec.split_field;
  std::string from_where = "FROM " + task.table.sql() + " WHERE (" +
                           (task.predicate.empty() ? "1" : task.predicate) + ")";

  auto stats =
      client.query_rows("SELECT toString(min(" + kind.key + ")), toString(max(" + kind.key +
                            ")), toString(count()), toString(count(" + f + ")) " + from_where,
                        what);
  uint64_t total = to_u64(stats.at(0).at(2));
  uint64_t non_null = to_u64(stats.at(0).at(3));
  uint64_t null_rows = total - non_null;
  std::vector<Bucket> buckets;
  if (non_null > 0) {
    Histogrammer h(client, from_where + " AND isNotNull(" + f + ")", kind.key, row_limit, what);
    h.run(to_i64(stats.at(0).at(0)), to_i64(stats.at(0).at(1)), non_null, buckets);
  }

  // Pack buckets into ranges; the NULLs go into the first.
  std::vector<int64_t> cuts;              // lower bounds of ranges 1..n
  std::vector<uint64_t> rows{null_rows};  // rows per range
  std::vector<std::string> notes{""};
  for (const Bucket& b : buckets) {
    if (rows.back() > 0 && rows.back() + b.rows > row_limit) {
      cuts.push_back(b.lo);
      rows.push_back(0);
      notes.emplace_back();
    }
    rows.back() += b.rows;
    if (b.rows > row_limit)
      notes.back() = "one value of " + spec.split_field + " holds " + std::to_string(b.rows) +
                     " rows, over the limit of " + std::to_string(row_limit);
  }
  if (cuts.empty()) {
    Task whole = task;
    whole.note = notes[0].empty()
                     ? "over the limit, but " + spec.split_field + " has a single value"
                     : notes[0];
    spdlog::warn("{} {}: {}", task.table.display(), task.partition, whole.note);
    return {whole};
  }

  // The server writes the boundaries in the column's own form and time zone.
  std::string list;
  for (int64_t c : cuts) list += (list.empty() ? "" : ",") + std::to_string(c);
  std::vector<std::string> shown;
  for (const auto& r : client.query_rows(
           "SELECT " + kind.display + " FROM (SELECT arrayJoin([" + list + "]) AS x)", what)) {
    shown.push_back(r.at(0));
  }

  std::vector<Task> ranges;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    Task range = task;
    std::string lower = i == 0 ? "" : f + " >= " + fill(kind.literal, cuts[i - 1]);
    std::string upper = i == cuts.size() ? "" : f + " < " + fill(kind.literal, cuts[i]);
    if (i == 0 && nullable) upper = upper + " OR isNull(" + f + ")";
    range.predicate = and_predicates({task.predicate, lower, upper});
    range.range = (i == 0 ? std::string("(-inf") : "[" + shown.at(i - 1)) + ", " +
                  (i == cuts.size() ? std::string("+inf)") : shown.at(i) + ")") +
                  (i == 0 && nullable ? " and NULL" : "");
    range.planned_rows = rows[i];
    double share = task.planned_rows == 0
                       ? 0
                       : static_cast<double>(rows[i]) / static_cast<double>(task.planned_rows);
    range.uncompressed_bytes =
        static_cast<uint64_t>(static_cast<double>(task.uncompressed_bytes) * share);
    range.bytes_on_disk = static_cast<uint64_t>(static_cast<double>(task.bytes_on_disk) * share);
    char index[32];
    std::snprintf(index, sizeof index, "range-%04zu_", i);
    range.dir = task.dir + "/" + index +
                (i == 0 ? std::string("from_min") : "from_" + encode_name(shown.at(i - 1)));
    range.note = notes[i].empty()
                     ? "split by " + spec.split_field + " (" + std::to_string(task.planned_rows) +
                           " rows > " + std::to_string(row_limit) + ")"
                     : notes[i];
    ranges.push_back(std::move(range));
  }
  return ranges;
}

}  // namespace chexport
