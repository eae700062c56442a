module kspan-rs/pause

go 1.22
