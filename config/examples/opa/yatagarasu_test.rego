# Unit tests for the example policies: opa test config/examples/opa
package yatagarasu.authz_test

import rego.v1

import data.yatagarasu.authz
import data.yatagarasu.decision

alice := {"sub": "alice", "roles": ["user"], "department": "finance"}

req(claims, method, key) := {
	"jwt_claims": claims, "bucket": "docs", "path": concat("", ["/docs/", key]), "key": key,
	"method": method, "client_ip": "127.0.0.1", "request_id": "t", "headers": {},
}

test_anonymous_denied if not authz.allow with input as req(null, "GET", "public/a.png")

test_public_needs_a_token if authz.allow with input as req(alice, "GET", "public/a.png")

test_own_folder if authz.allow with input as req(alice, "GET", "users/alice/a.txt")

test_head_like_get if authz.allow with input as req(alice, "HEAD", "users/alice/a.txt")

test_other_users_folder_denied if not authz.allow with input as req(alice, "GET", "users/bob/a.txt")

test_prefix_is_a_whole_segment if not authz.allow with input as req(alice, "GET", "users/alice2/a.txt")

test_sub_with_slash_denied if {
	not authz.allow with input as req({"sub": "alice/x"}, "GET", "users/alice/x/a.txt")
}

test_empty_sub_denied if not authz.allow with input as req({"sub": ""}, "GET", "users//a.txt")

test_department if authz.allow with input as req(alice, "GET", "departments/finance/q1.xlsx")

test_other_department_denied if {
	not authz.allow with input as req(alice, "GET", "departments/hr/q1.xlsx")
}

test_admin_reads_anything if {
	authz.allow with input as req({"sub": "root", "roles": ["admin"]}, "HEAD", "departments/hr/x")
}

test_roles_string_is_not_a_list if {
	not authz.allow with input as req({"sub": "eve", "roles": "admin"}, "GET", "departments/hr/x")
}

test_put_denied if not authz.allow with input as req({"roles": ["admin"]}, "PUT", "public/a.png")

test_decision_allow if {
	decision.decision == {"allow": true, "reason": "allowed: own user folder"} with input as req(alice, "GET", "users/alice/a")
}

test_decision_deny_reason if {
	decision.decision == {"allow": false, "reason": "no rule lets alice read users/bob/a"} with input as req(alice, "GET", "users/bob/a")
}

test_decision_anonymous if {
	decision.decision.reason == "authentication required" with input as req(null, "GET", "public/a")
}
