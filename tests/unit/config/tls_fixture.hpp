// Throw-away TLS material shared by the config tests, made with
// `openssl req -x509 -newkey ec` (P-256; subjectAltName DNS:localhost, IP:127.0.0.1): a
// self-signed certificate valid for 100 years and its key. Never use it outside tests.
#pragma once

#include <string_view>

namespace rstmdb::config::test {

inline constexpr std::string_view kCert = R"pem(-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUS3QZBpDcVRKzwJuvEPDsSsDjtegwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjA1NDk1OFoYDzIxMjYxMTA4
MDU0OTU4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATjdk6HWzzEsbQP/quICTbM3ZOGlwNcuMSGl9AGyJDby48hPIEaoHuW
Z1XotKROXRZf9b+Tnq8LOwIsma5K/4uwo28wbTAdBgNVHQ4EFgQUsTBjsHHYrXSq
e99/TZ5yKvLeaQ4wHwYDVR0jBBgwFoAUsTBjsHHYrXSqe99/TZ5yKvLeaQ4wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIgKXws+lhPLykiV3CQYrvxJIWF8sEqBOTpNtaS7b6rxU8CIQCC
UbOLYqZAySZyUddc7HPOAyYx2t6gaK/O9Wl0IyPP5g==
-----END CERTIFICATE-----
)pem";
inline constexpr std::string_view kKey = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLNHH2fsWhlj4NCoZ
hCuV9qQQcTK8d31mCqYgAJrHUPihRANCAATjdk6HWzzEsbQP/quICTbM3ZOGlwNc
uMSGl9AGyJDby48hPIEaoHuWZ1XotKROXRZf9b+Tnq8LOwIsma5K/4uw
-----END PRIVATE KEY-----
)pem";

}  // namespace rstmdb::config::test
