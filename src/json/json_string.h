// JSON string literals, for the text gipam writes itself: the lease file and plugin replies.
#pragma once

#include <string>
#include <string_view>

namespace gipam::json {

/// Appends `text` as a JSON string literal: quoted, with quotes, backslashes and control
/// characters escaped. Other bytes pass through, so UTF-8 stays readable.
void appendString(std::string& out, std::string_view text);

/// `text` as a JSON string literal.
std::string quote(std::string_view text);

}  // namespace gipam::json
