#include "channels/tcp/smtp_client.hpp"

namespace imta::channels::tcp {

// PLACEHOLDER until the SMTP client lands.
std::unique_ptr<queue::Master> make_client_master(std::string_view, const queue::MasterServices&) { return nullptr; }

}  // namespace imta::channels::tcp
