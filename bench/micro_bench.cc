// Micro-benchmarks of the byte path: the CSV record scanner on four kinds of input, the zstd
// encoder alone, and the rotating writer end to end (scanner + zstd + SHA-256 + file writes).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "chexport/pipeline/csv_scanner.h"
#include "chexport/pipeline/rotating_writer.h"
#include "chexport/pipeline/zstd_encoder.h"

namespace {

using namespace chexport;

constexpr size_t input_size = 64 << 20;

std::string make_input(const std::string& kind) {
  std::mt19937_64 rng(1);
  std::string s;
  s.reserve(input_size + 4096);
  while (s.size() < input_size) {
    if (kind == "quote_heavy") {
      // Every field quoted, many escaped quotes, commas and newlines inside quotes.
      s += "\"a\"\"b\"\",c\",\"x,\"\"y\"\"\n\",\"" + std::to_string(rng() % 1000) +
           "\"\"\",\"\"\"\"\n";
    } else if (kind == "quote_free") {
      s += std::to_string(rng()) + "," + std::to_string(rng() % 100000) + ",3.14159," +
           std::to_string(rng() % 7) + ",-1,\\N\n";
    } else if (kind == "long_fields") {
      s += "\"" + std::string(1000 + rng() % 3000, 'x') + "\",\"" + std::string(rng() % 2000, 'y') +
           "\"\n";
    } else {  // many_short_fields
      for (int i = 0; i < 40; ++i) s += (i ? "," : "") + std::to_string(rng() % 10);
      s += "\n";
    }
  }
  return s;
}

void scan(benchmark::State& state, const std::string& kind) {
  std::string input = make_input(kind);
  for (auto _ : state) {
    CsvScanner scanner;
    // In 16 KiB pieces, as libcurl delivers them.
    for (size_t pos = 0; pos < input.size(); pos += 16384) {
      scanner.scan(std::string_view(input).substr(pos, 16384));
    }
    benchmark::DoNotOptimize(scanner.records());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
}
BENCHMARK_CAPTURE(scan, quote_heavy, std::string("quote_heavy"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(scan, quote_free, std::string("quote_free"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(scan, long_fields, std::string("long_fields"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(scan, many_short_fields, std::string("many_short_fields"))
    ->Unit(benchmark::kMillisecond);

std::string realistic_csv() {
  std::mt19937_64 rng(2);
  std::string s;
  const char* countries[] = {"\"DE\"", "\"US\"", "\"FR\"", "\"JP\""};
  while (s.size() < input_size) {
    s += "\"2024-03-0" + std::to_string(1 + rng() % 9) + " 12:34:56\"," +
         std::to_string(rng() % 100000000) + "," + countries[rng() % 4] + "," +
         std::to_string(static_cast<double>(rng() % 100000) / 100) + ",\"/p/" +
         std::to_string(rng()) + "?q=\"\"x\"\",y\"\n";
  }
  return s;
}

class NullSink final : public ByteSink {
 public:
  void write(std::string_view data) override { bytes += data.size(); }
  void finish() override {}
  void cancel() noexcept override {}
  uint64_t bytes = 0;
};

void zstd_encoder(benchmark::State& state) {
  std::string input = realistic_csv();
  ZstdEncoder encoder(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    NullSink sink;
    for (size_t pos = 0; pos < input.size(); pos += 16384) {
      encoder.compress(std::string_view(input).substr(pos, 16384), sink);
    }
    encoder.end_frame(sink);
    benchmark::DoNotOptimize(sink.bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
}
BENCHMARK(zstd_encoder)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond);

void rotating_writer(benchmark::State& state) {
  std::string input = realistic_csv();
  // tmpfs when available, so the benchmark measures the code, not the disk.
  std::filesystem::path dir =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  dir /= "chexport-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  ZstdEncoder encoder(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    RotatingWriter writer([&](size_t i) { return (dir / ("f" + std::to_string(i))).string(); },
                          {.max_rows = 200000, .max_csv_bytes = 0, .max_compressed_bytes = 0},
                          &encoder, false);
    for (size_t pos = 0; pos < input.size(); pos += 16384) {
      writer.write(std::string_view(input).substr(pos, 16384));
    }
    writer.finish();
    benchmark::DoNotOptimize(writer.rows());
    writer.cancel();
  }
  std::filesystem::remove_all(dir);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
}
BENCHMARK(rotating_writer)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond);

}  // namespace
