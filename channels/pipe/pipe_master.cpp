#include "channels/pipe/pipe_master.hpp"

namespace imta::channels::pipe {

// PLACEHOLDER until the channel lands: no master, files stay queued.
std::unique_ptr<queue::Master> make_master(std::string_view, const queue::MasterServices&) { return nullptr; }

}  // namespace imta::channels::pipe
