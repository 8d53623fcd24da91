// `--on-file COMMAND`: runs `/bin/sh -c COMMAND` for each finished and validated file, with the
// file's facts in environment variables (docs/object-storage-and-pipes.md "Per-file hooks"). A
// command that exits non-zero or dies throws chexport::Error (transient: the task is exported
// again). Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace chexport {

// `hidden` names variables of chexport's environment the command must not see (passwords).
void run_file_hook(const std::string& command, const std::map<std::string, std::string>& env,
                   const std::vector<std::string>& hidden);

}  // namespace chexport
