#include "config/snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>

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
constexpr std::uint32_t image_version = 3;

// The payload's checksum: catches a damaged or half-copied image. Taken eight
// bytes at a time in four independent lanes (a byte at a time it cost as much
// as decoding a third of the image); every step is invertible, so a change
// to any one word always changes its lane and so the result.
std::uint64_t checksum(std::string_view body) {
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ull;
  auto step = [](std::uint64_t h, std::uint64_t w) { return std::rotl((h ^ w) * kMul, 29); };
  std::uint64_t lane[4] = {14695981039346656037ull ^ body.size(), 1, 2, 3};
  std::size_t i = 0;
  auto word = [&](std::size_t at) {
    std::uint64_t w;
    std::memcpy(&w, body.data() + at, 8);
    return w;
  };
  for (; i + 32 <= body.size(); i += 32) {
    lane[0] = step(lane[0], word(i));
    lane[1] = step(lane[1], word(i + 8));
    lane[2] = step(lane[2], word(i + 16));
    lane[3] = step(lane[3], word(i + 24));
  }
  std::uint64_t h = lane[0];
  for (int k = 1; k < 4; ++k) h = step(h, lane[k]);
  for (; i < body.size(); i += 8) {
    std::uint64_t tail = 0;
    std::memcpy(&tail, body.data() + i, std::min<std::size_t>(8, body.size() - i));
    h = step(h, tail);
  }
  return h ^ (h >> 32);
}

SourceStamp stamp(const fs::path& path) {
  SourceStamp s{path.string(), 0, 0};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    s.size = st.st_size;
  }
  return s;
}

/// The image file's bytes, read in one go into a buffer of its size (the
/// stream copying of read_file cost more than decoding much of the image).
struct ImageBytes {
  std::unique_ptr<char[]> data;
  std::size_t size = 0;
  std::string_view view() const { return {data.get(), size}; }
};

std::optional<ImageBytes> read_image_file(const fs::path& path) {
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st {};
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0) return std::nullopt;
  ImageBytes bytes;
  const auto capacity = static_cast<std::size_t>(st.st_size);
  bytes.data = std::make_unique_for_overwrite<char[]>(capacity);
  while (bytes.size < capacity) {
    ssize_t n = ::read(f.fd, bytes.data.get() + bytes.size, capacity - bytes.size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;  // shorter than fstat said: decoding will call it truncated
    bytes.size += static_cast<std::size_t>(n);
  }
  return bytes;
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
  snap.conversions = parse_conversions(
      read_optional(config_dir / "conversions", conversions_read_options(), diags, snap.sources), diags);
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
  write_image(payload, snap.conversions);

  // Header: magic, version, payload length, checksum of the payload.
  const std::string& body = payload.bytes();
  const std::uint64_t hash = checksum(body);
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
  auto stored_checksum = static_cast<std::uint64_t>(header.i64());
  const std::size_t header_size = image_magic.size() + 4 + 8 + 8;
  if (bytes.size() - header_size != length) throw ImageError("truncated configuration image");
  std::string_view body = bytes.substr(header_size);
  if (checksum(body) != stored_checksum) throw ImageError("corrupt configuration image (checksum mismatch)");

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
  snap.conversions = read_conversions(in);
  if (!in.at_end()) throw ImageError("corrupt configuration image (trailing data)");
  return snap;
}

std::string save_image(const Snapshot& snapshot, const fs::path& image) {
  return core::write_file_atomic(image, encode_image(snapshot), 0640);
}

Snapshot load_image(const fs::path& image) {
  auto bytes = read_image_file(image);
  if (!bytes) throw ImageError("cannot read " + image.string() + ": run imta cnbuild to create it");
  try {
    return decode_image(bytes->view());
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
