# view_path_group for a single-page app: the route, from the URL's hash
# (#/orders/1234) when the app routes there, else view_path, with the
# segments that are ids (numbers, UUIDs, long hex strings) as "?", so
# /orders/1234/items/5 and /orders/99/items/7 are one group,
# /orders/?/items/?. Install it as view.jq (and as action.jq, error.jq,
# ... for the other measurements that carry the view's tags).
def group:
  split("/")
  | map(if test("^([0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|[0-9a-fA-F]{16,})$") then "?" else . end)
  | join("/");

(([(.tags.view_url // "") | match("#(/[^?]*)").captures[0].string] | first)
 // .tags.view_path) as $route
| if $route then .tags.view_path_group = ($route | group) else . end
