// A table as the user names it, and as SQL names it.
#pragma once

#include <string>
#include <string_view>

namespace chexport {

struct TableRef {
  std::string db;
  std::string table;
  std::string display() const { return db + "." + table; }
  std::string sql() const;  // `db`.`table`
};

// "db.table" or "table" (database "default"); throws a usage Error for anything else.
TableRef parse_table_ref(std::string_view text);

}  // namespace chexport
