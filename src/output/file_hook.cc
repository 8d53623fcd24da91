#include "chexport/output/file_hook.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "chexport/common/error.h"

extern char** environ;

namespace chexport {

void run_file_hook(const std::string& command, const std::map<std::string, std::string>& env,
                   const std::vector<std::string>& hidden) {
  std::vector<std::string> entries;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    // The hook must not see the ClickHouse password chexport was given.
    if (std::find(hidden.begin(), hidden.end(), name) != hidden.end() ||
        env.count(std::string(name)))
      continue;
    entries.emplace_back(entry);
  }
  for (const auto& [k, v] : env) entries.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : entries) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  // chexport ignores SIGPIPE; the command's pipelines (zstd -dc | head) need the default.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", nullptr, &attr, const_cast<char**>(argv), envp.data());
  posix_spawnattr_destroy(&attr);
  std::string file = env.count("CHEXPORT_FILE_NAME") ? env.at("CHEXPORT_FILE_NAME") : "";
  if (rc != 0) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                "--on-file: cannot start /bin/sh for " + file + ": " + std::strerror(rc));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno == EINTR) continue;
    // Never take an unknown outcome for success: --delete-after-hook would remove the file.
    throw Error(
        ErrorKind::transient, ErrorCategory::export_failed,
        "--on-file: cannot learn how the command ended for " + file + ": " + std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  throw Error(ErrorKind::transient, ErrorCategory::export_failed,
              "--on-file command " + how + " for " + file);
}

}  // namespace chexport
