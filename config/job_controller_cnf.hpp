// job_controller.cnf: pools of delivery jobs and per-channel job settings.
// Global options come before the first section and are defaults for the
// sections; [POOL=name] sets a pool's JOB_LIMIT (the first pool is the
// default pool); [CHANNEL=pattern] sets how a channel's jobs run, the first
// section whose pattern matches a channel name winning.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/options.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

/// The job_controller.cnf option table.
const OptionRegistry& job_controller_registry();

struct PoolConfig {
  std::string name;  ///< as written; pool names compare case-insensitively
  int job_limit = 0;
  SourceLocation where;
  Options section{job_controller_registry()};
};

struct ChannelJobConfig {
  std::string pattern;            ///< `*` any run, `?` one character; empty for the defaults
  std::string master_command;     ///< empty = imta's own master for the channel
  std::string slave_command;      ///< empty = none (written NULL)
  std::int64_t max_life_age = 0;  ///< seconds, 0 = unlimited
  std::int64_t max_life_conns = 0;///< 0 = unlimited
  bool anon_host = false;
  SourceLocation where;
  Options section{job_controller_registry()};
};

struct JobControllerConfig {
  Options globals{job_controller_registry()};
  int tcp_port = 0;
  std::string interface_address;  ///< canonical IP literal, empty = every address
  std::string secret;
  std::int64_t debug = 0;
  std::int64_t max_messages = 0;
  int synch_time = 0;             ///< seconds between rescans of the queue folders
  int rebuild_parallel_channel = 0;
  int return_time = 0;            ///< RETURN_TIME as minutes after midnight
  std::vector<PoolConfig> pools;  ///< in file order; the first is the default pool
  std::vector<ChannelJobConfig> channels;  ///< in file order
  ChannelJobConfig defaults;      ///< the global values, for channels no section matches

  /// The first [CHANNEL=pattern] section (file order) matching `channel`, or nullptr.
  const ChannelJobConfig* for_channel(std::string_view channel) const;
  /// for_channel(), or the global defaults when no section matches.
  const ChannelJobConfig& settings_for(std::string_view channel) const;
  const PoolConfig* pool(std::string_view name) const;
  /// The first pool defined, or nullptr when there is none.
  const PoolConfig* default_pool() const;
  /// The pool a channel's `pool` keyword selects: empty = the default pool.
  const PoolConfig* pool_for(std::string_view pool_keyword) const;
};

/// Case-insensitive match with `*` (any run, also empty) and `?` (one character).
bool wildcard_match(std::string_view pattern, std::string_view name);

/// Reads job_controller.cnf with option_file_read_options(). A file with
/// settings but no [POOL=...] section is an error; an empty (or absent) file
/// is the same as a lone [POOL=DEFAULT] section.
JobControllerConfig parse_job_controller_cnf(const std::vector<SourceLine>& lines,
                                             Diagnostics& diags);

/// A channel of imta.cnf and its `pool` keyword value (empty when it has none).
struct ChannelPoolUse {
  std::string channel;
  std::string pool;
  SourceLocation where;  ///< where the keyword (or the channel block) is
};
/// An error for each channel whose pool is not defined in job_controller.cnf.
/// (Sun's job controller silently ignored such a channel's requests.)
void check_channel_pools(const JobControllerConfig& config,
                         const std::vector<ChannelPoolUse>& channels, Diagnostics& diags);

/// One warning per option set explicitly that the job controller does not act on yet.
void warn_unimplemented(const JobControllerConfig& config, Diagnostics& diags);

void write_image(ImageWriter& out, const JobControllerConfig& config);
JobControllerConfig read_job_controller_config(ImageReader& in);

}  // namespace imta::config
