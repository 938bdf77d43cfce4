"""Response groups: waiting lists, agent selection, estimated wait, routing, Erlang C."""
