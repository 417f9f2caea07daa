# Example OPA policy returning a decision object (opa_policy_path: yatagarasu/decision/decision).
#
# Same input and the same rules as yatagarasu.rego, which must be loaded too (the grants come
# from data.yatagarasu.authz; without it `decision` is undefined, i.e. OPA answers {} with no
# result). The result is {"allow": bool, "reason": string}; the reason says why a request was
# denied. Yatagarasu reads `allow` from an object result and returns `reason` in the 403 body
# (and logs it in the access/audit `error`).
package yatagarasu.decision

import rego.v1

import data.yatagarasu.authz

decision := {"allow": true, "reason": concat("", ["allowed: ", concat(", ", sort(authz.grants))])} if {
	authz.allow == true
}

decision := {"allow": false, "reason": deny_reason} if authz.allow == false

deny_reason := sprintf("method %s is not allowed", [input.method]) if {
	not input.method in {"GET", "HEAD"}
} else := "authentication required" if {
	not is_object(input.jwt_claims)
} else := sprintf("no rule lets %v read %s", [object.get(input.jwt_claims, "sub", "<no sub>"), input.key])
