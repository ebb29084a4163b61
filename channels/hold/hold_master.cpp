// The hold channel: every file it is given is held (renamed .HELD by queue/,
// see queue/outcome.hpp) and rests there, invisible to the job controller,
// until `imta qm release` makes it .00 again (it is then offered here again
// and held again: release it after moving it, or change what routes it here).
// The access mappings' $H flag and the hold-daemon address send mail here.
#include "channels/hold/hold_master.hpp"

#include <string>

namespace imta::channels::hold {

namespace {

class HoldMaster final : public queue::Master {
 public:
  HoldMaster(std::string_view channel, const queue::MasterServices& services)
      : channel_(channel), trace_(services.trace) {}

  queue::DeliveryReport deliver(const queue::Claim& claim) override {
    queue::DeliveryReport report;
    report.hold = true;
    // One (ignored) outcome per recipient all the same, as the interface asks.
    report.recipients.resize(claim.file().envelope.recipients.size());
    if (trace_) trace_(channel_ + ": holding " + claim.entry().name.str());
    return report;
  }

 private:
  std::string channel_;
  std::function<void(std::string_view)> trace_;
};

}  // namespace

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services) {
  return std::make_unique<HoldMaster>(channel, services);
}

}  // namespace imta::channels::hold
