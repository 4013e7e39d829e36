#include "server/live_config.hpp"

namespace rstmdb::server {

namespace {

std::shared_ptr<const ConfigGeneration> make_generation(config::Config config, std::uint64_t number) {
  auto tokens = TokenVerifier(config.auth.token_hashes, config.auth.token_labels);
  return std::make_shared<const ConfigGeneration>(
      ConfigGeneration{std::move(config), std::move(tokens), number});
}

}  // namespace

LiveConfig::LiveConfig(config::Config initial) : current_(make_generation(std::move(initial), 1)) {}

void LiveConfig::publish(config::Config next) {
  const std::uint64_t number = current_.load()->number + 1;
  current_.store(make_generation(std::move(next), number));
}

}  // namespace rstmdb::server
