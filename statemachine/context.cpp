#include "statemachine/context.hpp"

namespace rstmdb::statemachine {

void merge_context(boost::json::object& ctx, const boost::json::object& payload) {
  for (const auto& member : payload)
    ctx.insert_or_assign(member.key(), member.value());
}

}  // namespace rstmdb::statemachine
