"""The debate graph (`builder.build_graph`); its routing sits beside the nodes (`nodes.routing`)."""
