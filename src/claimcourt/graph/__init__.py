"""The debate graph (`builder.build_graph`) and the pure routing functions (`routing`)."""
