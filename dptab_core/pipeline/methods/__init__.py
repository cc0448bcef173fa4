"""The methods a run can follow: DP-TabImage (:mod:`.dp_tabimage`) and its baselines."""
