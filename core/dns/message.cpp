// ldns does the wire format both ways; this file turns its objects into the
// plain values of message.hpp and owns every ldns allocation through RAII.
#include "core/dns/message.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>

#include "core/dns/ldns.hpp"
#include "core/text.hpp"

namespace imta::core::dns {

namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct MallocFree {
  void operator()(void* p) const { std::free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/// A name from the wire as text: ldns's presentation form (escapes kept, so
/// an odd name never equals a plain one), lower case, no trailing dot.
std::string dname_text(const ldns_rdf* rdf) {
  if (rdf == nullptr) return {};
  std::unique_ptr<char, MallocFree> text(ldns_rdf2str(rdf));
  if (!text) return {};
  std::string s(text.get());
  if (!s.empty() && s.back() == '.') s.pop_back();
  std::transform(s.begin(), s.end(), s.begin(), core::ascii_lower);
  return s;
}

Record to_record(const ldns_rr* rr) {
  Record r;
  r.owner = dname_text(ldns_rr_owner(rr));
  r.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
  r.ttl = ldns_rr_ttl(rr);
  const std::size_t n = ldns_rr_rd_count(rr);
  switch (static_cast<RrType>(r.type)) {
    case RrType::a:
      if (n >= 1 && ldns_rdf_size(ldns_rr_rdf(rr, 0)) == 4) {
        asio::ip::address_v4::bytes_type b;
        std::copy_n(ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4, b.begin());
        r.address = asio::ip::address_v4(b);
      }
      break;
    case RrType::aaaa:
      if (n >= 1 && ldns_rdf_size(ldns_rr_rdf(rr, 0)) == 16) {
        asio::ip::address_v6::bytes_type b;
        std::copy_n(ldns_rdf_data(ldns_rr_rdf(rr, 0)), 16, b.begin());
        r.address = asio::ip::address_v6(b);
      }
      break;
    case RrType::mx:
      if (n >= 2) {
        r.preference = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
        r.target = dname_text(ldns_rr_rdf(rr, 1));
      }
      break;
    case RrType::cname:
      if (n >= 1) r.target = dname_text(ldns_rr_rdf(rr, 0));
      break;
    default:
      break;
  }
  return r;
}

std::uint32_t clamp_ttl(std::uint32_t ttl) {
  // RFC 2181 §8: a TTL with the top bit set counts as zero.
  return ttl > 0x7fffffffu ? 0 : ttl;
}

}  // namespace

std::optional<std::string> normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;
  for (char c : name) {
    c = core::ascii_lower(c);
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else {
      if (!label_char(c) || ++label > 63) return std::nullopt;
    }
    out.push_back(c);
  }
  return out;
}

std::vector<std::uint8_t> build_query(std::string_view name, RrType type, std::uint16_t id,
                                      std::uint16_t edns_size) {
  std::string fqdn(name);
  fqdn.push_back('.');
  ldns_rdf* owner = ldns_dname_new_frm_str(fqdn.c_str());
  if (owner == nullptr) return {};
  // The packet takes ownership of `owner`.
  PktPtr pkt(ldns_pkt_query_new(owner, static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN, LDNS_RD));
  if (!pkt) return {};
  ldns_pkt_set_id(pkt.get(), id);
  if (edns_size > 0) ldns_pkt_set_edns_udp_size(pkt.get(), edns_size);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt.get(), &size) != LDNS_STATUS_OK) {
    std::free(wire);
    return {};
  }
  std::unique_ptr<std::uint8_t, MallocFree> owned(wire);
  return std::vector<std::uint8_t>(wire, wire + size);
}

std::optional<Response> parse_response(std::span<const std::uint8_t> wire) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK || raw == nullptr) {
    if (raw != nullptr) ldns_pkt_free(raw);
    return std::nullopt;
  }
  PktPtr pkt(raw);
  Response r;
  r.id = ldns_pkt_id(pkt.get());
  r.qr = ldns_pkt_qr(pkt.get());
  r.aa = ldns_pkt_aa(pkt.get());
  r.tc = ldns_pkt_tc(pkt.get());
  r.opcode = static_cast<std::uint8_t>(ldns_pkt_get_opcode(pkt.get()));
  r.rcode = static_cast<std::uint8_t>(ldns_pkt_get_rcode(pkt.get()));
  if (const ldns_rr_list* q = ldns_pkt_question(pkt.get())) {
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(q); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(q, i);
      r.question_names.push_back(dname_text(ldns_rr_owner(rr)));
      r.question_types.push_back(static_cast<std::uint16_t>(ldns_rr_get_type(rr)));
      r.question_classes.push_back(static_cast<std::uint16_t>(ldns_rr_get_class(rr)));
    }
  }
  if (const ldns_rr_list* an = ldns_pkt_answer(pkt.get())) {
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(an); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(an, i);
      if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) continue;
      r.answers.push_back(to_record(rr));
    }
  }
  if (const ldns_rr_list* ns = ldns_pkt_authority(pkt.get())) {
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(ns); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(ns, i);
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7) continue;
      std::uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
      r.negative_ttl = std::min(clamp_ttl(ldns_rr_ttl(rr)), clamp_ttl(minimum));
      break;
    }
  }
  return r;
}

bool answers_query(const Response& response, std::uint16_t id, std::string_view name, RrType type) {
  return response.qr && response.id == id && response.opcode == 0 &&
         response.question_names.size() == 1 && core::iequals(response.question_names[0], name) &&
         response.question_types[0] == static_cast<std::uint16_t>(type) &&
         response.question_classes[0] == LDNS_RR_CLASS_IN;
}

Resolution interpret(const Response& response, std::string_view name, RrType type) {
  Resolution res;
  std::string current(name);
  res.chain.push_back(current);
  std::uint32_t ttl = 0xffffffffu;
  std::set<std::string> seen{current};
  bool followed = false;
  for (;;) {
    for (const auto& rec : response.answers)
      if (rec.type == static_cast<std::uint16_t>(type) && core::iequals(rec.owner, current)) {
        res.records.push_back(rec);
        ttl = std::min(ttl, clamp_ttl(rec.ttl));
      }
    if (!res.records.empty()) {
      res.status = Status::ok;
      res.canonical = current;
      res.ttl = ttl;
      return res;
    }
    auto cname = std::find_if(response.answers.begin(), response.answers.end(), [&](const Record& r) {
      return r.type == static_cast<std::uint16_t>(RrType::cname) && core::iequals(r.owner, current);
    });
    if (cname == response.answers.end()) break;
    if (!seen.insert(cname->target).second || res.chain.size() > max_cname_chain ||
        cname->target.empty()) {
      res.status = Status::servfail;  // a loop, an endless chain, or a CNAME to the root
      res.canonical = current;
      return res;
    }
    ttl = std::min(ttl, clamp_ttl(cname->ttl));
    current = cname->target;
    res.chain.push_back(current);
    followed = true;
  }
  res.canonical = current;
  const std::uint32_t negative = response.negative_ttl.value_or(0);
  if (response.rcode == rcode_nxdomain) {
    res.status = Status::nxdomain;
    res.ttl = std::min(ttl, negative);
  } else if (response.rcode != rcode_noerror) {
    res.status = Status::servfail;
  } else if (followed && !response.negative_ttl) {
    res.status = Status::nodata;  // provisional: the target lies elsewhere
    res.follow = true;
    res.ttl = ttl;
  } else if (response.negative_ttl || response.aa) {
    res.status = Status::nodata;
    res.ttl = std::min(ttl, negative);
  } else {
    res.status = Status::servfail;  // a referral: this server does not recurse
  }
  return res;
}

}  // namespace imta::core::dns
