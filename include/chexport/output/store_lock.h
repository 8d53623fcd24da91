// The two kinds of output lock behind Store::lock() (store.h).
//
// A directory's lock is an flock() on <dir>/.chexport.lock, which also holds the holder's JSON:
// the kernel frees it when the process ends however it ends, so a lock is never stale. The file
// itself stays (removing it would let a waiting run lock a file that is no longer the lock).
//
// An S3 prefix's lock is the object <prefix>/.chexport.lock: created with If-None-Match: * and
// read back (servers that ignore the condition keep the last writer, and the read-back tells),
// refreshed every lock_refresh_seconds by a thread of its own (with its own connection), and
// deleted at the end if still ours. One whose refresh is older than lock_stale_seconds is stale:
// --break-lock removes it, nothing else does.
//
// Both throw chexport::Error: category locked when another run holds the output, io or the S3
// client's errors otherwise.
#pragma once

#include <memory>
#include <string>

#include "chexport/output/s3.h"
#include "chexport/output/store.h"

namespace chexport {

// `path`: the lock file, <dir>/.chexport.lock or a worker's own.
std::unique_ptr<StoreLock> lock_directory(const std::string& path, const LockHolder& me);

std::unique_ptr<StoreLock> lock_s3_prefix(const S3Credentials& credentials,
                                          const std::string& bucket, const std::string& key,
                                          const std::string& url, LockHolder me, bool break_lock);

}  // namespace chexport
