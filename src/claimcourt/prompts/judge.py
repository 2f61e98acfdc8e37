"""The Judge weighs both cases and the precedents."""

JUDGE_RATIONALE = """\
p_green {p_green:.2f}: {knn_share:.0%} x similarity-weighted vote of {k} neighbours ({knn:.2f}; \
{n_green} green, {n_not_green} not green) + {lr_share:.0%} x classifier on the claim embedding ({logreg:.2f}). \
{strongest}{cues}"""
