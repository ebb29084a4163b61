#include "config/snapshot.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "config/mapping_engine.hpp"
#include "core/atomic_file.hpp"
#include "core/text.hpp"

namespace imta::config {

namespace fs = std::filesystem;

namespace {

// "IMTAIMG" + format version. Bump the version whenever any part's image
// layout changes: an old image is then refused with "run imta cnbuild"
// instead of being misread.
constexpr std::string_view image_magic = "IMTAIMG\n";
constexpr std::uint32_t image_version = 1;

SourceStamp stamp(const fs::path& path) {
  SourceStamp s{path.string(), 0, 0};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    s.size = st.st_size;
  }
  return s;
}

/// Reads an optional file: absent means "nothing configured", not an error.
std::vector<SourceLine> read_optional(const fs::path& path, const ReadOptions& options,
                                      Diagnostics& diags, std::vector<SourceStamp>& sources) {
  sources.push_back(stamp(path));
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  return read_source(path, options, diags);
}

// The local domain of bare alias names: the `l` channel's defaulthost if set,
// else its second (alias) host name, else its official host name.
std::string local_domain_of(const ImtaCnf& cnf) {
  const Channel* l = cnf.find_channel("l");
  if (!l || l->hosts.empty()) return {};
  if (const auto* dh = l->keyword("defaulthost"); dh && !dh->args.empty()) return core::to_lower(dh->args[0]);
  return core::to_lower(l->hosts.size() > 1 ? l->hosts[1] : l->hosts[0]);
}

std::vector<ChannelPoolUse> pool_uses(const ImtaCnf& cnf) {
  std::vector<ChannelPoolUse> uses;
  for (const auto& ch : cnf.channels) {
    const auto* pool = ch.keyword("pool");
    uses.push_back({ch.name, pool && !pool->args.empty() ? pool->args[0] : std::string(),
                    pool ? pool->where : ch.where});
  }
  return uses;
}

void load_channel_options(const fs::path& config_dir, Snapshot& snap, Diagnostics& diags) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(config_dir, ec)) {
    auto name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && name.size() > 7 && name.ends_with("_option")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // directory order is arbitrary; diagnostics should not be
  for (const auto& path : files) {
    auto channel = path.filename().string();
    channel.resize(channel.size() - 7);
    snap.sources.push_back(stamp(path));
    auto options = parse_channel_options(read_source(path, option_file_read_options(), diags), diags);
    if (!snap.imta_cnf.find_channel(channel)) {
      diags.warning({path.string(), 0}, "no channel \"" + channel + "\" in imta.cnf: this option file is not used");
    }
    warn_unimplemented(options, diags);
    snap.channel_options.emplace(channel, std::move(options));
  }
}

}  // namespace

std::vector<std::string> Snapshot::changed_sources() const {
  std::vector<std::string> changed;
  for (const auto& s : sources) {
    auto now = stamp(s.path);
    if (now.mtime_ns != s.mtime_ns || now.size != s.size) changed.push_back(s.path);
  }
  return changed;
}

Snapshot load_configuration(const fs::path& config_dir, Diagnostics& diags) {
  Snapshot snap;
  const auto cnf_path = config_dir / "imta.cnf";
  snap.sources.push_back(stamp(cnf_path));
  snap.imta_cnf = parse_imta_cnf(read_source(cnf_path, ReadOptions{}, diags), diags);
  snap.local_domain = local_domain_of(snap.imta_cnf);

  snap.mappings = parse_mappings(
      read_optional(config_dir / "mappings", mappings_read_options(), diags, snap.sources), diags);
  snap.options = parse_option_dat(
      read_optional(config_dir / "option.dat", option_file_read_options(), diags, snap.sources), diags);
  snap.aliases = parse_aliases(
      read_optional(config_dir / "aliases", aliases_read_options(), diags, snap.sources), diags,
      snap.local_domain);
  snap.general = parse_general_db(
      read_optional(config_dir / "general.txt", general_db_read_options(), diags, snap.sources), diags);
  snap.dispatcher = parse_dispatcher_cnf(
      read_optional(config_dir / "dispatcher.cnf", option_file_read_options(), diags, snap.sources), diags);
  snap.job_controller = parse_job_controller_cnf(
      read_optional(config_dir / "job_controller.cnf", option_file_read_options(), diags, snap.sources),
      diags);
  load_channel_options(config_dir, snap, diags);

  // Checks that need more than one file.
  check_rule_tags(snap.imta_cnf, diags);
  std::vector<std::string> channel_names;
  for (const auto& ch : snap.imta_cnf.channels) channel_names.push_back(ch.name);
  check_service_channels(snap.dispatcher, channel_names, diags);
  check_channel_pools(snap.job_controller, pool_uses(snap.imta_cnf), diags);
  if (snap.dispatcher.services.empty())
    diags.warning({(config_dir / "dispatcher.cnf").string(), 0},
                  "no [SERVICE=...] sections: the dispatcher will not listen on any port");

  // Recognised settings that nothing acts on yet: said once, as warnings.
  warn_unimplemented(snap.imta_cnf, diags);
  warn_unimplemented(snap.options, diags);
  warn_unimplemented(snap.dispatcher, diags);
  warn_unimplemented(snap.job_controller, diags);
  return snap;
}

std::string encode_image(const Snapshot& snap) {
  ImageWriter payload;
  payload.list(snap.sources, [](ImageWriter& w, const SourceStamp& s) {
    w.str(s.path);
    w.i64(s.mtime_ns);
    w.i64(s.size);
  });
  payload.str(snap.local_domain);
  write_image(payload, snap.imta_cnf);
  write_image(payload, snap.mappings);
  write_image(payload, snap.options);
  payload.u32(static_cast<std::uint32_t>(snap.channel_options.size()));
  for (const auto& [channel, options] : snap.channel_options) {
    payload.str(channel);
    write_image(payload, options);
  }
  write_image(payload, snap.aliases);
  write_image(payload, snap.general);
  write_image(payload, snap.dispatcher);
  write_image(payload, snap.job_controller);

  // Header: magic, version, payload length, FNV-1a checksum of the payload.
  const std::string& body = payload.bytes();
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : body) hash = (hash ^ c) * 1099511628211ull;
  ImageWriter header;
  std::string out(image_magic);
  header.u32(image_version);
  header.i64(static_cast<std::int64_t>(body.size()));
  header.i64(static_cast<std::int64_t>(hash));
  out += header.bytes();
  out += body;
  return out;
}

Snapshot decode_image(std::string_view bytes) {
  if (!bytes.starts_with(image_magic)) throw ImageError("not an imta configuration image");
  ImageReader header(bytes.substr(image_magic.size()));
  if (header.u32() != image_version) throw ImageError("configuration image from another imta version");
  auto length = static_cast<std::uint64_t>(header.i64());
  auto checksum = static_cast<std::uint64_t>(header.i64());
  const std::size_t header_size = image_magic.size() + 4 + 8 + 8;
  if (bytes.size() - header_size != length) throw ImageError("truncated configuration image");
  std::string_view body = bytes.substr(header_size);
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : body) hash = (hash ^ c) * 1099511628211ull;
  if (hash != checksum) throw ImageError("corrupt configuration image (checksum mismatch)");

  ImageReader in(body);
  Snapshot snap;
  snap.sources = in.list<SourceStamp>([](ImageReader& r) {
    SourceStamp s;
    s.path = r.str();
    s.mtime_ns = r.i64();
    s.size = r.i64();
    return s;
  });
  snap.local_domain = in.str();
  snap.imta_cnf = read_imta_cnf(in);
  snap.mappings = read_mappings(in);
  snap.options = read_options(in, option_dat_registry());
  for (auto n = in.u32(); n > 0; --n) {
    auto channel = in.str();
    snap.channel_options.emplace(channel, read_options(in, channel_option_registry()));
  }
  snap.aliases = read_aliases(in);
  snap.general = read_general_db(in);
  snap.dispatcher = read_dispatcher_config(in);
  snap.job_controller = read_job_controller_config(in);
  if (!in.at_end()) throw ImageError("corrupt configuration image (trailing data)");
  return snap;
}

std::string save_image(const Snapshot& snapshot, const fs::path& image) {
  return core::write_file_atomic(image, encode_image(snapshot), 0640);
}

Snapshot load_image(const fs::path& image) {
  auto bytes = read_file(image);
  if (!bytes) throw ImageError("cannot read " + image.string() + ": run imta cnbuild to create it");
  try {
    return decode_image(*bytes);
  } catch (const ImageError& e) {
    throw ImageError(image.string() + ": " + e.what() + ": run imta cnbuild to rebuild it");
  }
}

std::optional<std::string> SnapshotLookups::general(std::string_view key) const {
  return snapshot_.general.lookup(key);
}

std::optional<std::string> SnapshotLookups::mapping(std::string_view table, std::string_view probe) const {
  auto result = apply_mapping(snapshot_.mappings, table, probe);
  if (!result.matched || !result.allow || result.reject) return std::nullopt;
  return result.output;
}

}  // namespace imta::config
