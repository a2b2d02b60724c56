# Personal data out: the user id is dropped and the client's address
# masked (an IPv4 address keeps its /24, its last octet 0; an IPv6 address
# its first two groups). For every record: install it as default.jq in
# rum-jq's --dir, or run `rum-jq --file pii.jq`.
def mask_ip:
  if test(":") then
    split(":")[0:2] as $g
    | if ($g | length == 2 and all(length > 0)) then "\($g[0]):\($g[1])::" else "::" end
  else
    split(".")[0:3] + ["0"] | join(".")
  end;

del(.tags.userid)
| if .tags.ip then .tags.ip |= mask_ip else . end
