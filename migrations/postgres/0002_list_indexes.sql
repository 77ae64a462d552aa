-- describeImages walks one account's images of one source in listing order; with
-- image_source and id in the index the page is found (and counted) from the index alone.
CREATE INDEX images_list ON images(pin, region, image_source, seq, id);
