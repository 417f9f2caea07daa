# Example OPA policy for Yatagarasu (opa_policy_path: yatagarasu/authz/allow).
#
# The proxy POSTs {"input": {...}} to /v1/data/yatagarasu/authz/allow for every request it
# has to authorize, and serves the object only when the result is `true`. Input fields:
#   jwt_claims  object of the caller's JWT claims, or null when the request carries no token
#   bucket      the bucket's configured name
#   path        decoded request path, e.g. "/private/reports/q1.pdf"
#   key         object key inside the bucket, e.g. "reports/q1.pdf"
#   method      "GET" or "HEAD"
#   client_ip   e.g. "127.0.0.1"
#   request_id  the proxy's request id (useful in OPA's decision log)
#   headers     allow-listed request headers, names in lower case
#
# Rules: admins read anything; any authenticated user reads public/...; a user reads
# users/<sub>/...; a member of a department reads departments/<department>/...
# HEAD is allowed wherever GET is. Everything else is denied.
package yatagarasu.authz

import rego.v1

default allow := false

allow if {
	input.method in {"GET", "HEAD"}
	some _ in grants
}

# The caller's claims; undefined (so every rule below fails) when there is no token.
claims := input.jwt_claims if is_object(input.jwt_claims)

# A claim usable as one path segment: a non-empty string without "/", so that a `sub` of
# "alice/x" cannot reach into users/alice/.
segment(s) if {
	is_string(s)
	s != ""
	not contains(s, "/")
}

# Each rule that lets the caller read input.key adds its name to this set.
grants contains "admin" if "admin" in claims.roles

grants contains "public" if {
	claims
	startswith(input.key, "public/")
}

grants contains "own user folder" if {
	segment(claims.sub)
	startswith(input.key, concat("", ["users/", claims.sub, "/"]))
}

grants contains "department folder" if {
	segment(claims.department)
	startswith(input.key, concat("", ["departments/", claims.department, "/"]))
}
