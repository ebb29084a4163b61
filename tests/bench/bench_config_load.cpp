// Measures, inside one process, how long it takes to get a usable
// configuration: parsing and checking the text files (load_configuration)
// against loading the compiled image (load_image). Prints figures only.
//
// Usage: bench_config_load CONFIG_DIR [RUNS]   (CONFIG_DIR holds imta.image)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "config/mapping_engine.hpp"
#include "config/snapshot.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONFIG_DIR [RUNS]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int runs = argc > 2 ? std::atoi(argv[2]) : 10;
  std::vector<double> text_ms, image_ms, free_ms;
  std::size_t rules = 0, entries = 0;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    imta::config::Diagnostics diags;
    auto from_text = imta::config::load_configuration(dir, diags);
    text_ms.push_back(ms_since(t0));
    if (!diags.ok()) {
      std::fprintf(stderr, "configuration has errors\n");
      return 1;
    }
    t0 = Clock::now();
    auto from_image = std::make_unique<imta::config::Snapshot>(imta::config::load_image(dir / "imta.image"));
    image_ms.push_back(ms_since(t0));
    rules = from_image->imta_cnf.rules.size();
    entries = from_image->mappings.entry_count();
    t0 = Clock::now();
    from_image.reset();
    free_ms.push_back(ms_since(t0));
  }
  std::printf("configuration: %zu rewrite rules, %zu mapping entries; median of %d runs\n", rules, entries, runs);
  std::printf("parse and check the text files: %8.2f ms\n", median(text_ms));
  std::printf("load the compiled image:        %8.2f ms\n", median(image_ms));
  std::printf("free a loaded snapshot:         %8.2f ms\n", median(free_ms));
  std::printf("text / image:                   %8.2fx\n", median(text_ms) / median(image_ms));

  // Per-lookup costs on the loaded configuration: the work a session does
  // for each recipient.
  auto snap = imta::config::load_image(dir / "imta.image");
  imta::config::SnapshotLookups lookups(snap);
  constexpr int lookups_n = 2000;
  auto t0 = Clock::now();
  for (int i = 0; i < lookups_n; ++i) {
    imta::config::RewriteRequest request;
    request.address = "user" + std::to_string(i) + "@host" + std::to_string(i % 10000) + ".example.net";
    imta::config::rewrite_address(snap.imta_cnf, lookups, request);
  }
  std::printf("one rewrite:                    %8.2f us\n", ms_since(t0) * 1000.0 / lookups_n);
  if (const auto* table = snap.mappings.find("BENCH_TABLE")) {
    t0 = Clock::now();
    for (int i = 0; i < lookups_n; ++i)
      imta::config::apply_mapping(snap.mappings, table->name, "nobody" + std::to_string(i) + "@a.example.net");
    std::printf("one mapping probe, %zu entries, no match: %8.2f us\n", table->entries.size(),
                ms_since(t0) * 1000.0 / lookups_n);
  }
  return 0;
}
