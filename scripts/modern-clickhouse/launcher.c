/* Runs ClickHouse 26.7 (the engine inside chdb's libchdb.so) as clickhouse-local with the given
 * arguments, so that a `--query` of `SYSTEM START LISTEN HTTP; ...; <a long sleeping query>`
 * becomes a real HTTP server for as long as the process lives (shared/reference
 * modern-clickhouse.md). The library is loaded at run time: it is 566 MB, installed by
 * scripts/modern-clickhouse/install.sh into a cache outside the repository, and never linked.
 *
 *   chdb-launcher LIBCHDB.so [clickhouse-local arguments...]
 *
 * Exits 0 when the query ends, 1 with the engine's error on stderr, 2 on bad usage. */
#include <dlfcn.h>
#include <stdio.h>

typedef void *(*query_cmdline_fn)(int argc, char **argv);
typedef const char *(*result_error_fn)(void *result);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s LIBCHDB.so [clickhouse-local arguments...]\n", argv[0]);
    return 2;
  }
  void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    fprintf(stderr, "chdb-launcher: cannot load %s: %s\n", argv[1], dlerror());
    return 1;
  }
  query_cmdline_fn query_cmdline = (query_cmdline_fn)dlsym(library, "chdb_query_cmdline");
  result_error_fn result_error = (result_error_fn)dlsym(library, "chdb_result_error");
  if (query_cmdline == NULL || result_error == NULL) {
    fprintf(stderr, "chdb-launcher: %s lacks chdb_query_cmdline/chdb_result_error\n", argv[1]);
    return 1;
  }
  /* clickhouse-local sees its own argv[0] followed by the arguments after the library. */
  argv[1] = argv[0];
  void *result = query_cmdline(argc - 1, argv + 1);
  const char *error = result != NULL ? result_error(result) : "no result from chdb_query_cmdline";
  if (error != NULL) {
    fprintf(stderr, "chdb-launcher: %s\n", error);
    return 1;
  }
  return 0;
}
