#include "config/conversion_routing.hpp"

#include "config/access_probes.hpp"
#include "config/mapping_engine.hpp"
#include "core/text.hpp"

namespace imta::config {

std::string conversion_diversion(const Snapshot& s, std::string_view source, std::string_view destination) {
  std::string unchanged(destination);
  if (core::iequals(source, conversion_channel_name)) return unchanged;
  for (std::string_view never : {conversion_channel_name, std::string_view("bitbucket"), std::string_view("hold")})
    if (core::iequals(destination, never)) return unchanged;
  if (!s.imta_cnf.find_channel(conversion_channel_name) || !s.mappings.find(kConversions)) return unchanged;
  auto r = apply_mapping(s.mappings, kConversions, conversions_probe(source, destination));
  if (r.matched && !r.reject && core::iequals(core::trim(r.output), "yes")) return std::string(conversion_channel_name);
  return unchanged;
}

}  // namespace imta::config
