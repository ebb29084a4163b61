// The whole configuration of an instance as one immutable value: imta.cnf,
// mappings, option.dat and the <channel>_option files, aliases, the general
// database, dispatcher.cnf and job_controller.cnf. `imta cnbuild` builds it
// from the text files (reporting every problem, including the checks that
// span files) and writes it to config/imta.image; daemons and commands load
// only that image, so a half-edited file is never live.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/aliases.hpp"
#include "config/conversions.hpp"
#include "config/diagnostics.hpp"
#include "config/dispatcher_cnf.hpp"
#include "config/general_db.hpp"
#include "config/imta_cnf.hpp"
#include "config/job_controller_cnf.hpp"
#include "config/mapping.hpp"
#include "config/options.hpp"
#include "config/rewrite.hpp"

namespace imta::config {

/// A text file the snapshot was built from, as it was then: lets commands
/// notice that a file changed after the last `imta cnbuild`.
struct SourceStamp {
  std::string path;
  std::int64_t mtime_ns = 0;  ///< 0 = the file did not exist
  std::int64_t size = 0;
};

struct Snapshot {
  ImtaCnf imta_cnf;
  Mappings mappings;
  Options options{option_dat_registry()};
  std::map<std::string, Options> channel_options;  ///< by channel name
  Aliases aliases;
  GeneralDatabase general;
  DispatcherConfig dispatcher;
  JobControllerConfig job_controller;
  Conversions conversions;  ///< config/conversions: the conversion channel's commands
  std::string local_domain;  ///< bare alias names belong to this domain
  std::vector<SourceStamp> sources;

  /// The files in `sources` that differ now from when the snapshot was built.
  std::vector<std::string> changed_sources() const;
};

/// Reads and checks every configuration file under `config_dir`. Problems go
/// to `diags`; the result is only meaningful when diags.ok(). imta.cnf is
/// required; the other files may be absent (empty tables, default options),
/// which is reported as a warning where it matters.
Snapshot load_configuration(const std::filesystem::path& config_dir, Diagnostics& diags);

/// Writes the image atomically; returns "" on success, else the error text.
std::string save_image(const Snapshot& snapshot, const std::filesystem::path& image);

/// Loads an image written by save_image. Throws ImageError (naming the file
/// and saying to run `imta cnbuild`) when it is missing, from another version,
/// truncated or corrupt.
Snapshot load_image(const std::filesystem::path& image);

/// Serialises and parses the image bytes (save_image/load_image minus the file).
std::string encode_image(const Snapshot& snapshot);
Snapshot decode_image(std::string_view bytes);

/// The lookups rewrite rules make, answered from a snapshot: $(key) from the
/// general database, ${table,probe} through the mapping engine (succeeds only
/// when the entry sets $Y and does not reject).
class SnapshotLookups final : public RewriteLookups {
 public:
  explicit SnapshotLookups(const Snapshot& snapshot) : snapshot_(snapshot) {}
  std::optional<std::string> general(std::string_view key) const override;
  std::optional<std::string> mapping(std::string_view table, std::string_view probe) const override;

 private:
  const Snapshot& snapshot_;
};

}  // namespace imta::config
