// placeholder: filled in by its owner
#include "channels/tcp/smtp_server.hpp"
namespace imta::channels::tcp {
struct SmtpServer::Impl {};
SmtpServer::SmtpServer(const core::Instance&, std::shared_ptr<const config::Snapshot>) : impl_(std::make_unique<Impl>()) {}
SmtpServer::~SmtpServer() = default;
void SmtpServer::start(dispatcher::Connection) {}
void SmtpServer::reload(std::shared_ptr<const config::Snapshot>) {}
}
