// Throw-away TLS material shared by the config tests, made with
// `openssl req -x509 -newkey ec` (P-256): a self-signed certificate valid for 100 years and
// its key. Never use it outside tests.
#pragma once

#include <string_view>

namespace rstmdb::config::test {

inline constexpr std::string_view kCert = R"pem(-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUPUUg3nvWPI8MiZbCzjMUuGVZq8YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNDIwMzkyNVoYDzIxMjYxMDMx
MjAzOTI1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATjdk6HWzzEsbQP/quICTbM3ZOGlwNcuMSGl9AGyJDby48hPIEaoHuW
Z1XotKROXRZf9b+Tnq8LOwIsma5K/4uwo1MwUTAdBgNVHQ4EFgQUsTBjsHHYrXSq
e99/TZ5yKvLeaQ4wHwYDVR0jBBgwFoAUsTBjsHHYrXSqe99/TZ5yKvLeaQ4wDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBAlDd9ArAxZrNxMcOR9CA4
6hJ87rJcOsT/+ihZO1HXowIhAMl2NiYu0LMLsjuhn5DupAajs4cK03E3EL0XRjB4
WtUt
-----END CERTIFICATE-----
)pem";
inline constexpr std::string_view kKey = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLNHH2fsWhlj4NCoZ
hCuV9qQQcTK8d31mCqYgAJrHUPihRANCAATjdk6HWzzEsbQP/quICTbM3ZOGlwNc
uMSGl9AGyJDby48hPIEaoHuWZ1XotKROXRZf9b+Tnq8LOwIsma5K/4uw
-----END PRIVATE KEY-----
)pem";

}  // namespace rstmdb::config::test
