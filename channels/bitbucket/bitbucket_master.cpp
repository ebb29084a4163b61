// The bitbucket channel: every recipient counts as delivered (D records) and
// nothing is written anywhere. The access mappings' $B flag and the
// bitbucket-daemon address send mail here.
#include "channels/bitbucket/bitbucket_master.hpp"

#include <string>

namespace imta::channels::bitbucket {

namespace {

class BitbucketMaster final : public queue::Master {
 public:
  BitbucketMaster(std::string_view channel, const queue::MasterServices& services)
      : channel_(channel), trace_(services.trace) {}

  queue::DeliveryReport deliver(const queue::Claim& claim) override {
    queue::DeliveryReport report;
    const auto& recipients = claim.file().envelope.recipients;
    queue::RecipientOutcome done;
    done.status = queue::RecipientStatus::delivered;
    report.recipients.assign(recipients.size(), done);
    if (trace_)
      trace_(channel_ + ": discarded " + claim.entry().name.str() + " (" + std::to_string(recipients.size()) +
             " recipient" + (recipients.size() == 1 ? "" : "s") + ")");
    return report;
  }

 private:
  std::string channel_;
  std::function<void(std::string_view)> trace_;
};

}  // namespace

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services) {
  return std::make_unique<BitbucketMaster>(channel, services);
}

}  // namespace imta::channels::bitbucket
