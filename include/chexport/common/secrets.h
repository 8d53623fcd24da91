// Secrets that chexport itself writes into SQL (a password in remote(), plan/distributed.h), kept
// out of every message: the server may echo a query in its errors (26.7's analyzer quotes the
// whole query "in scope SELECT ..."), and debug logs show queries. Registered where they enter
// SQL; scrubbed from every Error's message and every log line. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace chexport {

// `literal` is the secret as SQL writes it (a quoted string literal); empty is ignored.
void register_sql_secret(std::string_view literal);

// `text` with every registered secret replaced by '[hidden]'.
std::string scrub_secrets(std::string_view text);

}  // namespace chexport
